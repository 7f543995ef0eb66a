package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// opts collects every command flag; each command defines the ones it has.
type opts struct {
	ttl        int
	swapValue  string
	swapIndex  int
	inOrder    bool
	sort       bool
	quorum     bool
	dir        bool
	recursive  bool
	withValue  string
	withIndex  int
	slash      bool
	forever    bool
	afterIndex int
	learner    bool
}

// flagDef is one command flag: its names, its help line and how to define
// it on a flag set.
type flagDef struct {
	names  []string
	arg    string // value placeholder in help; "" for a bool
	usage  string
	define func(fs *flag.FlagSet, o *opts)
}

func intFlag(field func(*opts) *int, usage string, names ...string) flagDef {
	return flagDef{names: names, arg: "N", usage: usage, define: func(fs *flag.FlagSet, o *opts) {
		for _, n := range names {
			fs.IntVar(field(o), n, 0, usage)
		}
	}}
}

func boolFlag(field func(*opts) *bool, usage string, names ...string) flagDef {
	return flagDef{names: names, usage: usage, define: func(fs *flag.FlagSet, o *opts) {
		for _, n := range names {
			fs.BoolVar(field(o), n, false, usage)
		}
	}}
}

func stringFlag(field func(*opts) *string, usage string, names ...string) flagDef {
	return flagDef{names: names, arg: "VALUE", usage: usage, define: func(fs *flag.FlagSet, o *opts) {
		for _, n := range names {
			fs.StringVar(field(o), n, "", usage)
		}
	}}
}

var (
	ttlFlag       = intFlag(func(o *opts) *int { return &o.ttl }, "time-to-live of the key in seconds (0: none)", "ttl")
	sortFlag      = boolFlag(func(o *opts) *bool { return &o.sort }, "sort the result by key", "sort")
	quorumFlag    = boolFlag(func(o *opts) *bool { return &o.quorum }, "read through the leader (linearizable)", "quorum", "q")
	recursiveFlag = boolFlag(func(o *opts) *bool { return &o.recursive }, "include the whole subtree", "recursive", "r")
	afterFlag     = intFlag(func(o *opts) *int { return &o.afterIndex }, "watch for events after this index", "after-index")
)

// command is one cairnctl command (or the member family with subs).
type command struct {
	name    string
	aliases []string
	args    string // positional arguments in the usage line
	short   string
	long    string
	example string
	flags   []flagDef
	run     func(a *app, o *opts, args []string) int
	subs    []*command
}

func commands() []*command {
	return []*command{
		{name: "cluster-health", short: "check the health of every member",
			long:    "Lists the members, asks each one's /health and prints a verdict.\nExits 0 when every member is healthy, 5 otherwise.",
			example: "cairnctl cluster-health\ncairnctl cluster-health --forever   # check every 10 seconds until interrupted",
			flags:   []flagDef{boolFlag(func(o *opts) *bool { return &o.forever }, "check every 10 seconds until interrupted", "forever", "f")},
			run:     clusterHealth},
		{name: "mk", args: "<key> <value>", short: "create a key that does not exist yet",
			long:    "Creates <key> with <value>; fails with 105 if it exists. With --in-order, <key> is a\ndirectory and a new key with a rising sequence name is created in it.\nWithout <value>, the value is read from standard input.",
			example: "cairnctl mk /config/mode fast\ncairnctl mk --in-order /queue job-1",
			flags:   []flagDef{boolFlag(func(o *opts) *bool { return &o.inOrder }, "create a sequentially named key below <key>", "in-order"), ttlFlag},
			run:     mk},
		{name: "mkdir", args: "<key>", short: "create a directory that does not exist yet",
			example: "cairnctl mkdir /config\ncairnctl mkdir --ttl 60 /leases",
			flags:   []flagDef{ttlFlag}, run: mkdirCmd("false")},
		{name: "rm", args: "<key>", short: "remove a key or a directory",
			long:    "Removes <key>. A directory needs --dir (empty) or --recursive. With --with-value or\n--with-index the key is removed only if it still holds that value or index.",
			example: "cairnctl rm /config/mode\ncairnctl rm --recursive /config\ncairnctl rm --with-value fast /config/mode",
			flags: []flagDef{
				boolFlag(func(o *opts) *bool { return &o.dir }, "remove an empty directory or a key", "dir"),
				recursiveFlag,
				stringFlag(func(o *opts) *string { return &o.withValue }, "remove only if the value is this", "with-value"),
				intFlag(func(o *opts) *int { return &o.withIndex }, "remove only if the modified index is this", "with-index"),
			},
			run: rm},
		{name: "rmdir", args: "<key>", short: "remove an empty directory or a key",
			example: "cairnctl rmdir /leases", run: rmdir},
		{name: "get", args: "<key>", short: "print the value of a key",
			example: "cairnctl get /config/mode\ncairnctl -o extended get /config/mode",
			flags:   []flagDef{sortFlag, quorumFlag}, run: get},
		{name: "ls", args: "[key]", short: "list a directory",
			long:    "Lists the keys below [key] (default /), one per line.",
			example: "cairnctl ls\ncairnctl ls --recursive -p /config",
			flags: []flagDef{sortFlag, recursiveFlag,
				boolFlag(func(o *opts) *bool { return &o.slash }, "append / to directories", "p"), quorumFlag},
			run: ls},
		{name: "set", args: "<key> <value>", short: "set the value of a key",
			long:    "Sets <key> to <value>, creating it if needed. --swap-with-value and --swap-with-index\nmake it a compare-and-swap. Without <value>, the value is read from standard input.\nA value starting with '-' must follow '--': cairnctl set -- <key> <value>",
			example: "cairnctl set /config/mode fast\ncairnctl set --ttl 30 /lease/me alive\ncairnctl set --swap-with-value fast /config/mode slow",
			flags: []flagDef{ttlFlag,
				stringFlag(func(o *opts) *string { return &o.swapValue }, "set only if the current value is this", "swap-with-value"),
				intFlag(func(o *opts) *int { return &o.swapIndex }, "set only if the modified index is this", "swap-with-index"),
			},
			run: set},
		{name: "setdir", args: "<key>", short: "create a directory",
			long:    "Creates the directory <key>; an existing directory gives error 102.",
			example: "cairnctl setdir /config", flags: []flagDef{ttlFlag}, run: mkdirCmd("")},
		{name: "update", args: "<key> <value>", short: "change the value of an existing key",
			example: "cairnctl update /config/mode slow", flags: []flagDef{ttlFlag}, run: update},
		{name: "updatedir", args: "<key>", short: "change the TTL of an existing directory",
			example: "cairnctl updatedir --ttl 60 /leases", flags: []flagDef{ttlFlag}, run: updatedir},
		{name: "watch", args: "<key>", short: "wait for a change of a key and print it",
			long:    "Waits for the next change of <key> (of any key below it with --recursive) and prints\nit; with --forever keeps printing until interrupted. Directory events are skipped.",
			example: "cairnctl watch /config/mode\ncairnctl watch --recursive --forever /config\ncairnctl watch --after-index 41 /config/mode",
			flags: []flagDef{boolFlag(func(o *opts) *bool { return &o.forever }, "keep watching until interrupted", "forever", "f"),
				afterFlag, recursiveFlag},
			run: watch},
		{name: "exec-watch", args: "<command> [args...] <key>", short: "run a command on every change of a key",
			long: "Watches <key> until interrupted and runs <command> for each change, with\n" +
				"ETCD_WATCH_ACTION, ETCD_WATCH_MODIFIED_INDEX, ETCD_WATCH_KEY and ETCD_WATCH_VALUE\n" +
				"in its environment. The key is the LAST argument, as etcdctl 3.4 parses it: a\n" +
				"single '--' is dropped, so \"exec-watch /k -- cmd\" watches the key \"cmd\".\n" +
				"Commands run one at a time, in event order.",
			example: "cairnctl exec-watch --recursive -- sh -c 'echo $ETCD_WATCH_KEY changed' /config",
			flags:   []flagDef{afterFlag, recursiveFlag},
			run:     execWatch},
		{name: "member", short: "list, add, remove, update and promote members",
			example: "cairnctl member list\ncairnctl member add node4 http://10.0.0.4:2380",
			subs: []*command{
				{name: "list", short: "list the members", example: "cairnctl member list", run: memberList},
				{name: "add", args: "<name> <peerURL>", short: "add a member (--learner: a non-voting learner, cairn only)",
					example: "cairnctl member add node4 http://10.0.0.4:2380\ncairnctl member add --learner node5 http://10.0.0.5:2380",
					flags:   []flagDef{boolFlag(func(o *opts) *bool { return &o.learner }, "add as a learner (cairn only)", "learner")},
					run:     memberAdd},
				{name: "remove", args: "<memberID>", short: "remove a member", example: "cairnctl member remove 8e9e05c52164694d", run: memberRemove},
				{name: "update", args: "<memberID> <peerURLs>", short: "change a member's peer URLs (comma separated)",
					example: "cairnctl member update 8e9e05c52164694d http://10.0.0.9:2380", run: memberUpdate},
				{name: "promote", args: "<memberID>", short: "make a caught-up learner a voting member (cairn only)",
					example: "cairnctl member promote 8e9e05c52164694d", run: memberPromote},
			}},
		{name: "completion", args: "bash|zsh", short: "print a shell completion script",
			example: "source <(cairnctl completion bash)\ncairnctl completion zsh > \"${fpath[1]}/_cairnctl\"",
			run:     completion},
	}
}

// argOrStdin returns args[i], or all of stdin when it is missing.
func (a *app) argOrStdin(args []string, i int) (string, error) {
	if i < len(args) {
		return args[i], nil
	}
	if a.stdin == nil {
		return "", errors.New("no value provided")
	}
	b, err := io.ReadAll(a.stdin)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", errors.New("no value provided")
	}
	return string(b), nil
}

func (a *app) printResponse(r *response) {
	switch a.g.output {
	case "simple":
		if r.Action != "delete" {
			fmt.Fprintln(a.stdout, r.Node.Value)
		} else {
			prev := ""
			if r.PrevNode != nil {
				prev = r.PrevNode.Value
			}
			fmt.Fprintln(a.stdout, "PrevNode.Value:", prev)
		}
	case "extended":
		fmt.Fprintln(a.stdout, "Key:", r.Node.Key)
		fmt.Fprintln(a.stdout, "Created-Index:", r.Node.CreatedIndex)
		fmt.Fprintln(a.stdout, "Modified-Index:", r.Node.ModifiedIndex)
		if r.PrevNode != nil {
			fmt.Fprintln(a.stdout, "PrevNode.Value:", r.PrevNode.Value)
		}
		fmt.Fprintln(a.stdout, "TTL:", r.Node.TTL)
		fmt.Fprintln(a.stdout, "Index:", r.index)
		if r.Action != "delete" {
			fmt.Fprintln(a.stdout, "")
			fmt.Fprintln(a.stdout, r.Node.Value)
		}
	case "json":
		b, err := json.Marshal(r)
		if err != nil {
			panic(err) // plain structs always marshal
		}
		fmt.Fprintln(a.stdout, string(b))
	default:
		fmt.Fprintln(a.stderr, "Unsupported output format:", a.g.output)
	}
}

func get(a *app, o *opts, args []string) int {
	if len(args) == 0 {
		return a.handleError(exitBadArgs, errors.New("key required"))
	}
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	ctx, cancel := a.totalContext()
	r, err := c.get(ctx, args[0], false, o.sort, o.quorum)
	cancel()
	if err != nil {
		return a.handleError(exitServerError, err)
	}
	if r.Node.Dir {
		fmt.Fprintf(a.stderr, "%s: is a directory\n", r.Node.Key)
		return exitBadArgs
	}
	a.printResponse(r)
	return exitSuccess
}

func ls(a *app, o *opts, args []string) int {
	key := "/"
	if len(args) > 0 {
		key = args[0]
	}
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	ctx, cancel := a.totalContext()
	r, err := c.get(ctx, key, o.recursive, o.sort, o.quorum)
	cancel()
	if err != nil {
		return a.handleError(exitServerError, err)
	}
	if a.g.output != "simple" {
		a.printResponse(r)
		return exitSuccess
	}
	if !r.Node.Dir {
		fmt.Fprintln(a.stdout, r.Node.Key)
	}
	var walk func(n *node)
	walk = func(n *node) {
		if n.Dir && o.slash {
			fmt.Fprintf(a.stdout, "%s/\n", n.Key)
		} else {
			fmt.Fprintln(a.stdout, n.Key)
		}
		for _, ch := range n.Nodes {
			walk(ch)
		}
	}
	for _, n := range r.Node.Nodes {
		walk(n)
	}
	return exitSuccess
}

// write runs one write request and prints its response (unless quiet in
// simple mode).
func (a *app) write(quietSimple bool, do func(c *client) (*response, error)) int {
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	r, err := do(c)
	if err != nil {
		return a.handleError(exitServerError, err)
	}
	if !quietSimple || a.g.output != "simple" {
		a.printResponse(r)
	}
	return exitSuccess
}

func set(a *app, o *opts, args []string) int {
	if len(args) == 0 {
		return a.handleError(exitBadArgs, errors.New("key required"))
	}
	value, err := a.argOrStdin(args, 1)
	if err != nil {
		return a.handleError(exitBadArgs, errors.New("value required"))
	}
	return a.write(false, func(c *client) (*response, error) {
		ctx, cancel := a.totalContext()
		defer cancel()
		return c.set(ctx, args[0], value, setOptions{ttl: int64(o.ttl), prevValue: o.swapValue, prevIndex: uint64(o.swapIndex)})
	})
}

func mk(a *app, o *opts, args []string) int {
	if len(args) == 0 {
		return a.handleError(exitBadArgs, errors.New("key required"))
	}
	value, err := a.argOrStdin(args, 1)
	if err != nil {
		return a.handleError(exitBadArgs, errors.New("value required"))
	}
	return a.write(false, func(c *client) (*response, error) {
		ctx, cancel := a.totalContext()
		defer cancel()
		if o.inOrder {
			return c.createInOrder(ctx, args[0], value, int64(o.ttl))
		}
		return c.set(ctx, args[0], value, setOptions{ttl: int64(o.ttl), prevExist: "false"})
	})
}

func update(a *app, o *opts, args []string) int {
	if len(args) == 0 {
		return a.handleError(exitBadArgs, errors.New("key required"))
	}
	value, err := a.argOrStdin(args, 1)
	if err != nil {
		return a.handleError(exitBadArgs, errors.New("value required"))
	}
	return a.write(false, func(c *client) (*response, error) {
		ctx, cancel := a.totalContext()
		defer cancel()
		return c.set(ctx, args[0], value, setOptions{ttl: int64(o.ttl), prevExist: "true"})
	})
}

// mkdirCmd is mkdir (prevExist "false") and setdir (prevExist "").
func mkdirCmd(prevExist string) func(a *app, o *opts, args []string) int {
	return func(a *app, o *opts, args []string) int {
		if len(args) == 0 {
			return a.handleError(exitBadArgs, errors.New("key required"))
		}
		return a.write(true, func(c *client) (*response, error) {
			ctx, cancel := a.totalContext()
			defer cancel()
			return c.set(ctx, args[0], "", setOptions{ttl: int64(o.ttl), dir: true, prevExist: prevExist})
		})
	}
}

func updatedir(a *app, o *opts, args []string) int {
	if len(args) == 0 {
		return a.handleError(exitBadArgs, errors.New("key required"))
	}
	return a.write(true, func(c *client) (*response, error) {
		ctx, cancel := a.totalContext()
		defer cancel()
		return c.set(ctx, args[0], "", setOptions{ttl: int64(o.ttl), dir: true, prevExist: "true"})
	})
}

// printDelete prints a delete response unless it is a directory in simple
// mode.
func (a *app) printDelete(r *response) {
	if !r.Node.Dir || a.g.output != "simple" {
		a.printResponse(r)
	}
}

func rm(a *app, o *opts, args []string) int {
	if len(args) == 0 {
		return a.handleError(exitBadArgs, errors.New("key required"))
	}
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	ctx, cancel := a.totalContext()
	r, err := c.del(ctx, args[0], o.withValue, uint64(o.withIndex), o.dir, o.recursive)
	cancel()
	if err != nil {
		return a.handleError(exitServerError, err)
	}
	a.printDelete(r)
	return exitSuccess
}

func rmdir(a *app, o *opts, args []string) int {
	if len(args) == 0 {
		return a.handleError(exitBadArgs, errors.New("key required"))
	}
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	ctx, cancel := a.totalContext()
	r, err := c.del(ctx, args[0], "", 0, true, false)
	cancel()
	if err != nil {
		return a.handleError(exitServerError, err)
	}
	a.printDelete(r)
	return exitSuccess
}

func newWatcher(c *client, key string, o *opts) *watcher {
	w := &watcher{c: c, key: key, recursive: o.recursive}
	if o.afterIndex > 0 {
		w.waitIndex = uint64(o.afterIndex) + 1
	}
	return w
}

func watch(a *app, o *opts, args []string) int {
	if len(args) == 0 {
		return a.handleError(exitBadArgs, errors.New("key required"))
	}
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	w := newWatcher(c, args[0], o)
	ctx, stop := a.untilInterrupt()
	defer stop()
	for {
		r, err := w.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return exitSuccess // interrupted
			}
			return a.handleError(exitServerError, err)
		}
		if r.Node.Dir {
			continue
		}
		if o.recursive {
			fmt.Fprintf(a.stdout, "[%s] %s\n", r.Action, r.Node.Key)
		}
		a.printResponse(r)
		if !o.forever {
			return exitSuccess
		}
	}
}

// splitExecArgs separates the key from the command as etcdctl does: the key
// is the last argument, unless a "--" still follows the first argument (the
// user gave two, the flag parser dropped one), then the key is first and the
// command follows that "--".
func splitExecArgs(args []string) (key string, cmd []string) {
	for i, s := range args {
		if s == "--" && i != 0 {
			return args[0], args[i+1:]
		}
	}
	return args[len(args)-1], args[:len(args)-1]
}

func execWatch(a *app, o *opts, args []string) int {
	if len(args) < 2 {
		return a.handleError(exitBadArgs, errors.New("key and command to exec required"))
	}
	key, cmdArgs := splitExecArgs(args)
	if len(cmdArgs) == 0 {
		return a.handleError(exitBadArgs, errors.New("key and command to exec required"))
	}
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	w := newWatcher(c, key, o)
	environ := os.Environ()
	ctx, stop := a.untilInterrupt()
	defer stop()
	for {
		r, err := w.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return exitSuccess
			}
			return a.handleError(exitServerError, err)
		}
		if r.Node.Dir {
			fmt.Fprintf(a.stderr, "Ignored dir %s change\n", r.Node.Key)
			continue
		}
		cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
		cmd.Env = append(environ[:len(environ):len(environ)],
			"ETCD_WATCH_ACTION="+r.Action,
			fmt.Sprintf("ETCD_WATCH_MODIFIED_INDEX=%d", r.Node.ModifiedIndex),
			"ETCD_WATCH_KEY="+r.Node.Key,
			"ETCD_WATCH_VALUE="+r.Node.Value)
		cmd.Stdin = nil
		cmd.Stdout, cmd.Stderr = a.stdout, a.stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprint(a.stderr, err.Error())
			return exitBadArgs
		}
		// Unlike etcdctl, which starts each command in the background, the
		// next event waits for this command: handlers never overlap and
		// see events in order; nothing is lost, the watch resumes at the
		// next index.
		_ = cmd.Wait()
	}
}

func memberList(a *app, o *opts, args []string) int {
	if len(args) != 0 {
		fmt.Fprintln(a.stderr, "No arguments accepted")
		return exitBadArgs
	}
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	ctx, cancel := a.totalContext()
	defer cancel()
	ms, err := c.listMembers(ctx)
	if err != nil {
		fmt.Fprintln(a.stderr, err.Error())
		return exitBadArgs
	}
	lead, err := c.leader(ctx)
	if err != nil {
		fmt.Fprintln(a.stderr, "Failed to get leader: ", err)
		return exitBadArgs
	}
	for _, m := range ms {
		learner := ""
		if m.IsLearner {
			learner = " isLearner=true"
		}
		if m.Name == "" {
			fmt.Fprintf(a.stdout, "%s[unstarted]: peerURLs=%s%s\n", m.ID, strings.Join(m.PeerURLs, ","), learner)
			continue
		}
		fmt.Fprintf(a.stdout, "%s: name=%s peerURLs=%s clientURLs=%s isLeader=%v%s\n", m.ID, m.Name,
			strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","), m.ID == lead.ID, learner)
	}
	return exitSuccess
}

func memberAdd(a *app, o *opts, args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(a.stderr, "Provide a name and a single member peerURL")
		return exitBadArgs
	}
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	ctx, cancel := a.totalContext()
	defer cancel()
	name := args[0]
	m, err := c.addMember(ctx, args[1], o.learner)
	if err != nil {
		fmt.Fprintln(a.stderr, err.Error())
		return exitBadArgs
	}
	kind := "member"
	if o.learner {
		kind = "learner"
	}
	fmt.Fprintf(a.stdout, "Added %s named %s with ID %s to cluster\n", kind, name, m.ID)
	ms, err := c.listMembers(ctx)
	if err != nil {
		fmt.Fprintln(a.stderr, err.Error())
		return exitBadArgs
	}
	var conf []string
	for _, mm := range ms {
		n := mm.Name
		if mm.ID == m.ID {
			n = name
		}
		for _, u := range mm.PeerURLs {
			conf = append(conf, n+"="+u)
		}
	}
	fmt.Fprint(a.stdout, "\n")
	fmt.Fprintf(a.stdout, "ETCD_NAME=%q\n", name)
	fmt.Fprintf(a.stdout, "ETCD_INITIAL_CLUSTER=%q\n", strings.Join(conf, ","))
	fmt.Fprintf(a.stdout, "ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n")
	return exitSuccess
}

func memberRemove(a *app, o *opts, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(a.stderr, "Provide a single member ID")
		return exitBadArgs
	}
	id := args[0]
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	ctx, cancel := a.totalContext()
	defer cancel()
	ms, err := c.listMembers(ctx)
	if err != nil {
		fmt.Fprintln(a.stderr, "Error while verifying ID against known members:", err.Error())
		return exitBadArgs
	}
	found := false
	for _, m := range ms {
		if m.ID == id {
			found = true
		}
		if m.Name == id {
			fmt.Fprintf(a.stderr, "Found a member named %s; if this is correct, please use its ID, eg:\n\tetcdctl member remove %s\n", m.Name, m.ID)
			fmt.Fprintf(a.stderr, "For more details, read the documentation at https://github.com/etcd-io/etcd/blob/master/Documentation/runtime-configuration.md#remove-a-member\n\n")
		}
	}
	if !found {
		fmt.Fprintf(a.stderr, "Couldn't find a member in the cluster with an ID of %s.\n", id)
		return exitBadArgs
	}
	if err := c.removeMember(ctx, id); err != nil {
		fmt.Fprintf(a.stderr, "Received an error trying to remove member %s: %s", id, err.Error())
		return exitBadArgs
	}
	fmt.Fprintf(a.stdout, "Removed member %s from cluster\n", id)
	return exitSuccess
}

func memberUpdate(a *app, o *opts, args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(a.stderr, "Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)")
		return exitBadArgs
	}
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	ctx, cancel := a.totalContext()
	defer cancel()
	if err := c.updateMember(ctx, args[0], strings.Split(args[1], ",")); err != nil {
		fmt.Fprintln(a.stderr, err.Error())
		return exitBadArgs
	}
	fmt.Fprintf(a.stdout, "Updated member with ID %s in cluster\n", args[0])
	return exitSuccess
}

func memberPromote(a *app, o *opts, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(a.stderr, "Provide a single member ID")
		return exitBadArgs
	}
	c, code := a.mustClient()
	if c == nil {
		return code
	}
	ctx, cancel := a.totalContext()
	defer cancel()
	if err := c.promoteMember(ctx, args[0]); err != nil {
		fmt.Fprintln(a.stderr, err.Error())
		return exitBadArgs
	}
	fmt.Fprintf(a.stdout, "Promoted member %s in cluster\n", args[0])
	return exitSuccess
}

// health is the body of GET /health.
type health struct {
	Health string `json:"health"`
}

func clusterHealth(a *app, o *opts, args []string) int {
	c, code := a.newClient()
	if c == nil {
		return code
	}
	if a.g.debug {
		fmt.Fprintf(a.stderr, "Cluster-Endpoints: %s\n", joinEndpoints(c.endpoints, ", "))
	}
	ctx := a.ctx
	if o.forever {
		var stop context.CancelFunc
		ctx, stop = a.untilInterrupt()
		defer stop()
	}
	ms, err := c.listMembers(ctx)
	if err != nil {
		fmt.Fprintln(a.stdout, "cluster may be unhealthy: failed to list members")
		return a.handleError(exitServerError, err)
	}
	const every = 10 * time.Second // etcdctl's period
	for {
		if ctx.Err() != nil {
			return exitSuccess // interrupted (forever mode only)
		}
		healthy := 0
		for _, m := range ms {
			if len(m.ClientURLs) == 0 {
				fmt.Fprintf(a.stdout, "member %s is unreachable: no available published client urls\n", m.ID)
				continue
			}
			checked := false
			for _, u := range m.ClientURLs {
				h, err := a.checkHealth(ctx, c, u)
				if err != nil {
					fmt.Fprintf(a.stdout, "failed to check the health of member %s on %s: %v\n", m.ID, u, err)
					continue
				}
				checked = true
				if h.Health == "true" {
					healthy++
					fmt.Fprintf(a.stdout, "member %s is healthy: got healthy result from %s\n", m.ID, u)
				} else {
					fmt.Fprintf(a.stdout, "member %s is unhealthy: got unhealthy result from %s\n", m.ID, u)
				}
				break
			}
			if !checked {
				fmt.Fprintf(a.stdout, "member %s is unreachable: %v are all unreachable\n", m.ID, m.ClientURLs)
			}
		}
		switch healthy {
		case len(ms):
			fmt.Fprintln(a.stdout, "cluster is healthy")
		case 0:
			fmt.Fprintln(a.stdout, "cluster is unavailable")
		default:
			fmt.Fprintln(a.stdout, "cluster is degraded")
		}
		if !o.forever {
			if healthy == len(ms) {
				return exitSuccess
			}
			return exitClusterHealth
		}
		fmt.Fprintf(a.stdout, "\nnext check after %v...\n\n", periodText(every))
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return exitSuccess
		case <-t.C:
		}
	}
}

// periodText is how etcdctl words the 10 s period ("10 second").
func periodText(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%d second", d/time.Second)
	}
	return d.String()
}

// checkHealth asks one client URL for /health, without failover.
func (a *app) checkHealth(ctx context.Context, c *client, u string) (*health, error) {
	eps, err := parseEndpoints([]string{u})
	if err != nil {
		return nil, err
	}
	one := &client{endpoints: eps, rt: c.rt, debug: nil}
	ctx, cancel := context.WithTimeout(ctx, a.g.totalTimeout)
	defer cancel()
	resp, err := one.doOne(ctx, eps[0], request{method: "GET", path: "/health"})
	if err != nil {
		return nil, &url.Error{Op: "Get", URL: strings.TrimSuffix(u, "/") + "/health", Err: err}
	}
	var h health
	if err := json.Unmarshal(resp.body, &h); err != nil {
		return nil, err
	}
	return &h, nil
}
