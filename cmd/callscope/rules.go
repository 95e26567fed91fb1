package main

import (
	"fmt"
	"strings"

	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/rules"
	"github.com/spf13/cobra"
)

func newRulesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rules",
		Short: "List every diagnostic rule with its ID, severity and explanation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			for _, r := range rules.All() {
				fmt.Fprintf(w, "%s (%s)\n  %s\n\n%s\n\n", r.ID(), severities(r), r.Title(), indent(wrap(r.Explain(), 76), "  "))
			}
			return nil
		},
	}
}

// severities names what a rule's findings can be: "error", or "warning or
// error" for a rule that grades them.
func severities(r diagnose.Rule) string {
	var names []string
	for _, s := range rules.Severities(r) {
		names = append(names, s.String())
	}
	if n := len(names); n > 1 {
		return strings.Join(names[:n-1], ", ") + " or " + names[n-1]
	}
	return strings.Join(names, "")
}

// wrap folds text at word boundaries to lines of at most width runes.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(text) {
		if n > 0 && n+1+len(word) > width {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

func indent(text, prefix string) string {
	return prefix + strings.ReplaceAll(text, "\n", "\n"+prefix)
}
