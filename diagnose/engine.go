package diagnose

import (
	"time"

	"github.com/callscope/callscope/decode"
)

// Credential is a TURN long-term credential given for offline integrity
// checks. It is never printed.
type Credential struct {
	Username string
	Password string
}

// Options configure an Engine.
type Options struct {
	Credentials []Credential
}

// Engine correlates decoded messages into transactions and allocations.
// It is driven by packet timestamps only, so files and live capture behave
// the same. An Engine is not safe for concurrent use; two Engines share
// nothing.
type Engine struct {
	opts     Options
	analysis Analysis
}

// NewEngine returns an Engine.
func NewEngine(opts Options) *Engine { return &Engine{opts: opts} }

// Observe correlates one message. The message is only valid during the call.
func (e *Engine) Observe(m *decode.Message) {
	// TODO(helper): correlation.
}

// Finish closes the capture at time end (the last packet's time): open
// transactions become unanswered, allocations get their final outcome.
func (e *Engine) Finish(end time.Time) *Analysis {
	e.analysis.CredentialsGiven = len(e.opts.Credentials) > 0
	return &e.analysis
}
