package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/callscope/callscope/rules"
	"github.com/spf13/cobra"
)

func newProfilesCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "profiles [NAME|FILE...]",
		Short: "Print the built-in profiles (or the named ones) the SIP, media and DSCP rules check against",
		Long: `profiles prints what each built-in profile checks: the DSCP marks for audio,
video and SIP signalling, the media port ranges, the peer subnets, the
service's well-known ports and the thresholds. Name profiles or JSON profile
files to print (and validate) only those. --format json with one NAME prints
that profile as one JSON object in the profile file format, a starting point
for a profile of your own that loads back with analyze --profile FILE; with
no NAME or several it prints a JSON array of them.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q: want text or json", format)
			}
			profiles := rules.Profiles()
			if len(args) > 0 {
				profiles = profiles[:0]
				for _, name := range args {
					p, err := rules.LoadProfile(name)
					if err != nil {
						return err
					}
					profiles = append(profiles, p)
				}
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				// One named profile prints as one object, the profile file
				// format, so the output loads back with --profile FILE.
				if len(args) == 1 {
					return enc.Encode(profiles[0])
				}
				return enc.Encode(profiles)
			}
			for i, p := range profiles {
				if i > 0 {
					fmt.Fprintln(w)
				}
				writeProfile(w, p)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// writeProfile prints one profile for a person.
func writeProfile(w io.Writer, p *rules.Profile) {
	fmt.Fprintf(w, "%s\n%s\n", p.Name, indent(wrap(p.Description, 76), "  "))
	fmt.Fprintf(w, "  DSCP         audio %s · video %s · SIP %s\n", dscpText(p.DSCP.Audio), dscpText(p.DSCP.Video), dscpText(p.DSCP.Signalling))
	if len(p.MediaPorts) == 0 {
		fmt.Fprintf(w, "  media ports  any\n")
	}
	for i, r := range p.MediaPorts {
		label := "media ports"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "  %-11s  %-7s %-15s%s\n", label, r.Class, span(r.From, r.To), note(r.Description))
	}
	if len(p.PeerSubnets) == 0 {
		fmt.Fprintf(w, "  peers        any\n")
	} else {
		fmt.Fprintf(w, "  peers        %s\n", indentAfterFirst(wrap(strings.Join(p.PeerSubnets, ", "), 63), "               "))
	}
	for i, s := range p.ServicePorts {
		label := "services"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "  %-11s  %-7s %-15s%s\n", label, s.Service, s.Transport+"/"+span(s.From, s.To), note(s.Description))
	}
	t := p.Thresholds
	fmt.Fprintf(w, "  thresholds   loss warning > %g %% · loss error > %g %% · jitter > %g ms · SIP timeout %g s\n",
		t.LossWarningPercent, t.LossErrorPercent, t.JitterWarningMS, t.SIPTimeoutS)
}

func dscpText(v int) string {
	names := map[int]string{46: "EF", 34: "AF41", 24: "CS3", 26: "AF31", 0: "best effort", 40: "CS5", 32: "CS4"}
	switch {
	case v < 0:
		return "not checked"
	case names[v] != "":
		return fmt.Sprintf("%s (%d)", names[v], v)
	}
	return fmt.Sprint(v)
}

func span(from, to int) string {
	if from == to {
		return fmt.Sprint(from)
	}
	return fmt.Sprintf("%d-%d", from, to)
}

func note(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}

func indentAfterFirst(text, prefix string) string {
	return strings.ReplaceAll(text, "\n", "\n"+prefix)
}
