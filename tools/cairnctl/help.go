package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// globalHelp lists the global flags in the help text.
var globalHelp = [][2]string{
	{"--debug", "print the curl command of every request on stderr"},
	{"--no-sync", "use the endpoints as given; do not replace them by the members' client URLs"},
	{"--output, -o simple|extended|json", "output format (default simple)"},
	{"--discovery-srv, -D DOMAIN", "not supported by cairnctl (give --endpoints)"},
	{"--insecure-discovery", "accepted for compatibility; no effect"},
	{"--peers, -C URLS", "deprecated form of --endpoints ($ETCDCTL_PEERS)"},
	{"--endpoint URLS", "deprecated form of --endpoints ($ETCDCTL_ENDPOINT)"},
	{"--endpoints URLS", "comma separated client URLs ($ETCDCTL_ENDPOINTS; default " + defaultEndpoints + ")"},
	{"--cert-file FILE", "client certificate for HTTPS ($ETCDCTL_CERT_FILE)"},
	{"--key-file FILE", "client key for HTTPS ($ETCDCTL_KEY_FILE)"},
	{"--ca-file FILE", "CA bundle to verify HTTPS servers ($ETCDCTL_CA_FILE)"},
	{"--username, -u USER:PASS", "HTTP basic auth ($ETCDCTL_USERNAME)"},
	{"--timeout DURATION", "per request: connect and wait for the answer's headers (default 2s)"},
	{"--total-timeout DURATION", "per command, watches excepted (default 5s)"},
	{"--help, -h", "show help"},
	{"--version, -v", "print the version"},
}

func (a *app) printAppHelp() {
	w := a.stdout
	fmt.Fprintf(w, "cairnctl %s: an etcdctl v2 compatible client for cairn (and etcd's v2 API).\n\n", versionString())
	fmt.Fprintln(w, "Usage:")
	fmt.Fprintln(w, "  cairnctl [global flags] <command> [command flags] [arguments...]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.short)
	}
	fmt.Fprintf(tw, "  help [command]\tshow help for a command\n")
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Global flags (before the command):")
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, g := range globalHelp {
		fmt.Fprintf(tw, "  %s\t%s\n", g[0], g[1])
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 bad arguments, 2 no connection, 3 unknown command,")
	fmt.Fprintln(w, "4 server error, 5 cluster unhealthy.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Example:")
	fmt.Fprintln(w, "  cairnctl --endpoints http://10.0.0.1:2379 set /config/mode fast")
}

func (a *app) printCommandHelp(c *command, parent string) {
	w := a.stdout
	full := "cairnctl " + c.name
	if parent != "" {
		full = "cairnctl " + parent + " " + c.name
	}
	fmt.Fprintf(w, "%s: %s\n\n", full, c.short)
	fmt.Fprintln(w, "Usage:")
	switch {
	case len(c.subs) > 0:
		fmt.Fprintf(w, "  %s <subcommand> [flags] [arguments...]\n", full)
	default:
		line := "  " + full
		if len(c.flags) > 0 {
			line += " [flags]"
		}
		if c.args != "" {
			line += " " + c.args
		}
		fmt.Fprintln(w, line)
	}
	if c.long != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, indent(c.long))
	}
	if len(c.subs) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Subcommands:")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, s := range c.subs {
			fmt.Fprintf(tw, "  %s %s\t%s\n", s.name, s.args, s.short)
		}
		tw.Flush()
	}
	if len(c.flags) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Flags:")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, f := range c.flags {
			names := make([]string, len(f.names))
			for i, n := range f.names {
				if len(n) == 1 {
					names[i] = "-" + n
				} else {
					names[i] = "--" + n
				}
			}
			s := strings.Join(names, ", ")
			if f.arg != "" {
				s += " " + f.arg
			}
			fmt.Fprintf(tw, "  %s\t%s\n", s, f.usage)
		}
		tw.Flush()
	}
	if c.example != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Example:")
		fmt.Fprintln(w, indent(c.example))
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func completion(a *app, o *opts, args []string) int {
	if len(args) != 1 || (args[0] != "bash" && args[0] != "zsh") {
		fmt.Fprintln(a.stderr, "Error:  completion needs one argument: bash or zsh")
		return exitBadArgs
	}
	writeCompletion(a.stdout, args[0])
	return exitSuccess
}

// writeCompletion prints a completion script for shell (bash or zsh; zsh
// runs the bash function through bashcompinit).
func writeCompletion(w io.Writer, shell string) {
	var cmds, subs []string
	flags := map[string][]string{}
	for _, c := range commands() {
		cmds = append(cmds, c.name)
		for _, f := range c.flags {
			for _, n := range f.names {
				if len(n) > 1 {
					flags[c.name] = append(flags[c.name], "--"+n)
				}
			}
		}
		if c.name == "member" {
			for _, s := range c.subs {
				subs = append(subs, s.name)
			}
		}
	}
	var globals []string
	for _, g := range globalHelp {
		for _, part := range strings.Split(g[0], ", ") {
			if f := strings.Fields(part)[0]; strings.HasPrefix(f, "--") {
				globals = append(globals, f)
			}
		}
	}
	if shell == "zsh" {
		fmt.Fprintln(w, "#compdef cairnctl")
		fmt.Fprintln(w, "autoload -U +X bashcompinit && bashcompinit")
	}
	fmt.Fprintln(w, "# cairnctl completion; load with: source <(cairnctl completion "+shell+")")
	fmt.Fprintln(w, "_cairnctl() {")
	fmt.Fprintln(w, "    local cur cmd i")
	fmt.Fprintln(w, `    cur="${COMP_WORDS[COMP_CWORD]}"`)
	fmt.Fprintln(w, "    cmd=")
	fmt.Fprintln(w, "    for ((i = 1; i < COMP_CWORD; i++)); do")
	fmt.Fprintln(w, `        case "${COMP_WORDS[i]}" in`)
	fmt.Fprintln(w, "        -*) ;;")
	fmt.Fprintf(w, "        %s) cmd=\"${COMP_WORDS[i]}\"; break ;;\n", strings.Join(cmds, "|"))
	fmt.Fprintln(w, "        esac")
	fmt.Fprintln(w, "    done")
	fmt.Fprintln(w, `    case "$cmd" in`)
	fmt.Fprintf(w, "    \"\") COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", strings.Join(append(cmds, globals...), " "))
	fmt.Fprintf(w, "    member) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", strings.Join(append(subs, "--learner"), " "))
	fmt.Fprintln(w, "    completion) COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\")) ;;")
	for _, c := range cmds {
		if f := flags[c]; len(f) > 0 && c != "member" {
			fmt.Fprintf(w, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", c, strings.Join(append(f, "--help"), " "))
		}
	}
	fmt.Fprintln(w, "    *) COMPREPLY=($(compgen -W \"--help\" -- \"$cur\")) ;;")
	fmt.Fprintln(w, "    esac")
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w, "complete -F _cairnctl cairnctl")
}
