package rules

// The rules whose findings on a diagnose.Engine snapshot are certain, so
// that a live capture reports them as they happen (diagnose.EarlyRule):
// they judge answered or given-up transactions, concluded calls, streams
// that ended, and the capture's own drops. The others (ICE, TLS, DSCP,
// port and peer policy, Binding and SIP timeouts, SIP NAT and ALG hints)
// weigh the whole capture and report at its end.

func (IntegrityFailure) Early() bool  { return true }
func (AllocateTimeout) Early() bool   { return true }
func (ServerUnreachable) Early() bool { return true }
func (StaleNonce) Early() bool        { return true }
func (RequestRejected) Early() bool   { return true }
func (SIPAuthFailure) Early() bool    { return true }
func (SIPCallFailed) Early() bool     { return true }
func (SIPACKMissing) Early() bool     { return true }
func (MediaOneWay) Early() bool       { return true }
func (MediaNoRTP) Early() bool        { return true }
func (MediaUnreachable) Early() bool  { return true }
func (MediaLoss) Early() bool         { return true }
func (MediaJitter) Early() bool       { return true }
func (CaptureDrops) Early() bool      { return true }
