package conformance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ErrSyntax is returned (wrapped, with the line number) for a script line
// that cannot be parsed.
var ErrSyntax = errors.New("conformance: script syntax")

// Kind says what a Step does.
type Kind int

// Step kinds.
const (
	// Request sends a request and compares its whole answer.
	Request Kind = iota
	// Watch sends a request and compares its status and headers as soon
	// as they arrive; the body is read by a later Await.
	Watch
	// Await reads the body of an open Watch (Lines lines, or to the end
	// when Lines is 0) and compares it, then closes the watch.
	Await
)

// Compare modes for a step's body.
const (
	// Exact compares the normalised body byte for byte.
	Exact = "exact"
	// Shape compares a JSON body with every number replaced by 0 and
	// every duration or time string by a placeholder.
	Shape = "shape"
	// StatusOnly compares the status and Content-Type only.
	StatusOnly = "status"
)

// Step is one entry of a script.
type Step struct {
	Line   int    // line number in the script, for messages
	Kind   Kind   //
	Name   string // Watch and Await: the watch's name
	Method string // Request and Watch
	Target string // path and query, e.g. /v2/keys/a?recursive=true
	Body   string // raw request body (form-encoded unless Header says otherwise)
	Header http.Header
	Lines  int    // Await: events to read; 0 reads to the end
	Repeat int    // Request: times to send it (the last answer is compared); 0 means 1
	Mode   string // Exact, Shape or StatusOnly
	// ExpectDiff, when set, is why cairn is known to answer this step
	// differently from etcd; the difference is reported, not failed.
	ExpectDiff string
}

// String renders s as a script line.
func (s Step) String() string {
	switch s.Kind {
	case Watch:
		return strings.TrimSpace(fmt.Sprintf("watch %s %s %s %s", s.Name, s.Method, s.Target, s.Body))
	case Await:
		if s.Lines > 0 {
			return fmt.Sprintf("await %s %d", s.Name, s.Lines)
		}
		return "await " + s.Name
	}
	return strings.TrimSpace(fmt.Sprintf("%s %s %s", s.Method, s.Target, s.Body))
}

// Parse reads a script. Its format, one entry per line:
//
//	# a comment; blank lines are ignored
//	METHOD TARGET [BODY]        a request; BODY is the rest of the line, sent as is
//	watch NAME METHOD TARGET    start a request, compare status and headers
//	await NAME [N]              read N lines (or to the end) of watch NAME, compare, close
//	+header Name: Value         modifies the next request or watch
//	+mode shape|status|exact    how the next step's body is compared
//	+repeat N                   send the next request N times, compare the last answer
//	+expect-diff REASON         the next step is known to differ on cairn
//
// A BODY without a +header Content-Type is sent as
// application/x-www-form-urlencoded.
func Parse(r io.Reader) ([]Step, error) {
	var steps []Step
	pending := Step{Header: http.Header{}, Mode: Exact}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrSyntax, n, fmt.Sprintf(format, a...))
		}
		if strings.HasPrefix(trimmed, "+") {
			word, rest, _ := strings.Cut(trimmed[1:], " ")
			rest = strings.TrimSpace(rest)
			switch word {
			case "header":
				k, v, ok := strings.Cut(rest, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return nil, bad("+header wants Name: Value")
				}
				pending.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			case "mode":
				switch rest {
				case Exact, Shape, StatusOnly:
					pending.Mode = rest
				default:
					return nil, bad("unknown mode %q", rest)
				}
			case "repeat":
				v, err := strconv.Atoi(rest)
				if err != nil || v <= 0 || v > 100000 {
					return nil, bad("bad +repeat count %q", rest)
				}
				pending.Repeat = v
			case "expect-diff":
				if rest == "" {
					return nil, bad("+expect-diff needs a reason")
				}
				pending.ExpectDiff = rest
			default:
				return nil, bad("unknown directive +%s", word)
			}
			continue
		}
		st := pending
		st.Line = n
		pending = Step{Header: http.Header{}, Mode: Exact}
		fields := strings.SplitN(trimmed, " ", 3)
		switch fields[0] {
		case "watch":
			f := strings.SplitN(trimmed, " ", 5)
			if len(f) < 4 {
				return nil, bad("watch wants NAME METHOD TARGET")
			}
			st.Kind, st.Name, st.Method, st.Target = Watch, f[1], f[2], f[3]
			if len(f) == 5 {
				st.Body = f[4]
			}
		case "await":
			if len(fields) < 2 {
				return nil, bad("await wants NAME [N]")
			}
			st.Kind, st.Name = Await, fields[1]
			if len(fields) == 3 {
				v, err := strconv.Atoi(fields[2])
				if err != nil || v <= 0 {
					return nil, bad("await: bad line count %q", fields[2])
				}
				st.Lines = v
			}
		default:
			if len(fields) < 2 || !strings.HasPrefix(fields[1], "/") {
				return nil, bad("want METHOD /TARGET [BODY]")
			}
			st.Kind, st.Method, st.Target = Request, fields[0], fields[1]
			if len(fields) == 3 {
				st.Body = fields[2]
			}
		}
		steps = append(steps, st)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("conformance: reading script: %w", err)
	}
	open := map[string]bool{}
	for _, s := range steps {
		switch s.Kind {
		case Watch:
			if open[s.Name] {
				return nil, fmt.Errorf("%w: line %d: watch %s is already open", ErrSyntax, s.Line, s.Name)
			}
			open[s.Name] = true
		case Await:
			if !open[s.Name] {
				return nil, fmt.Errorf("%w: line %d: await of unknown watch %s", ErrSyntax, s.Line, s.Name)
			}
			delete(open, s.Name)
		}
	}
	return steps, nil
}
