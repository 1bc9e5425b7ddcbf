package idemsimtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the README's output of the user's go test (user-test-output) instead of comparing")

// TestReadmeUserModule follows the README's "Test your own consumer" as a
// user would, in a directory of its own outside this repository: it runs
// the section's commands as the README writes them (a clone of this
// repository, where the README clones GitHub's, then go mod init, go mod
// edit, go mod tidy, go test, go install), offline, on the module cache
// this repository's build filled, and writes the files the section shows
// where it shows them. It holds the README to what happens there: go vet
// passes; go test ./dedup fails with the output the README shows, the
// shrunk story and its replay lines; the user's own idemsim, installed,
// replays the "reproduce with:" line and finds the same violation; and
// the "rerun it from this test:" line tells the same story. After a
// deliberate change of the output (of explain's story, say), run it with
// -update and review the README's diff.
func TestReadmeUserModule(t *testing.T) {
	if testing.Short() {
		t.Skip("clones this repository, builds a module of its own and runs go test in it")
	}
	for _, tool := range []string{"go", "git"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is needed to follow the README's commands", tool)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	files := userModuleFiles(t, string(readme))
	require.Contains(t, files, "dedup/dedup.go")
	require.Contains(t, files, "dedup/dedup_test.go")
	require.Contains(t, files, "cmd/idemsim/main.go")

	// The offline go mod tidy below needs every module of idemsim's
	// graph in the module cache, those of its dependencies' tests too
	// (tidy keeps their checksums), where a build fetches only what it
	// compiles: fetch them all first, online, as go mod download in this
	// repository does. It reads and writes copies of go.mod and go.sum
	// (-modfile), so that the checksums it adds do not change the
	// repository's own go.sum.
	modDir := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(modDir, f), b, 0o644))
	}
	dl := exec.Command("go", "mod", "download", "-modfile", filepath.Join(modDir, "go.mod"), "all")
	dl.Dir = root
	dlOut, err := dl.CombinedOutput()
	require.NoError(t, err, "go mod download all, which fills the module cache the README's commands then read offline:\n%s", dlOut)

	base := userDir(t, root)
	sh := &userShell{t: t, root: root, dir: base, env: userEnv(filepath.Join(base, "bin"))}

	// Clone, make the module, point it at the clone.
	for _, line := range readmeCommands(t, string(readme), "user-module-setup") {
		out, err := sh.run(line)
		require.NoError(t, err, "%s\n%s", line, out)
	}
	shop := sh.dir
	writeUserFiles(t, shop, files, "dedup/dedup.go", "dedup/dedup_test.go")

	// go mod tidy, then go test ./dedup, which fails as the README shows.
	require.Contains(t, string(readme), "`go test ./dedup` fails")
	var out string
	tested := false
	for _, line := range readmeCommands(t, string(readme), "user-module-test") {
		if line != "go test ./dedup" {
			o, err := sh.run(line)
			require.NoError(t, err, "%s%s\n%s", line, offlineHint(o), o)
			continue
		}
		out, err = sh.run(line)
		require.Error(t, err, "the README's test must fail on the deduplicator:\n%s", out)
		tested = true
	}
	require.True(t, tested, "the README's user-module-test block runs no go test ./dedup")
	if *update {
		updateReadme(t, "user-test-output", out)
	} else {
		assertShows(t, out, readmeBlock(t, string(readme), "user-test-output"))
	}
	story := between(out, "watermill-dedup under redeliver:", "\n        \n")
	require.NotEmpty(t, story)
	reproduce := lineAfter(t, out, "reproduce with: idemsim ")
	rerun := lineAfter(t, out, "rerun it from this test: ")

	// The user's own idemsim: go mod tidy again, go install.
	writeUserFiles(t, shop, files, "cmd/idemsim/main.go")
	for _, line := range readmeCommands(t, string(readme), "user-module-install") {
		o, err := sh.run(line)
		require.NoError(t, err, "%s%s\n%s", line, offlineHint(o), o)
	}
	o, err := sh.run("go vet ./...")
	require.NoError(t, err, "go vet in the README's module:\n%s", o)
	replay, err := exec.Command(filepath.Join(base, "bin", "idemsim"), strings.Fields(reproduce)...).CombinedOutput()
	require.NoError(t, err, "%s", replay)
	assert.Contains(t, string(replay), "exactly-once     VIOLATED", "idemsim %s", reproduce)

	sh.dir = filepath.Join(shop, "dedup")
	out, _ = sh.run(rerun)
	assert.Contains(t, out, "seed 1, 3 instances, 200 events", rerun)
	assert.Contains(t, out, story, "%s tells the same story", rerun)

	// The README says what Expect: {"partition": "dup"} tells: the event
	// the deduplicator loses.
	require.Contains(t, string(readme), "With `Expect: map[string]string{\"partition\": \"dup\"}`, the test above\nrun with `-idemsim.scenario=partition`")
	require.NoError(t, os.WriteFile(filepath.Join(shop, "dedup", "expect_test.go"), []byte(expectTest), 0o644))
	sh.dir = shop
	out, err = sh.run("go test ./dedup -short -run ^TestExpect$ -idemsim.scenario=partition")
	require.Error(t, err, "%s", out)
	for _, step := range []string{
		// Both brokers are swept: the queue's failure comes first.
		"watermill-dedup is not exactly-once on the queue: it fails under partition",
		"is cut off from the database",
		"gives up waiting for the reply to its Apply",
		"the handler fails",
		"the handler returns skipped",
		"is lost",
	} {
		assert.Contains(t, out, step)
	}
}

// expectTest is the test of the README's Expect example.
const expectTest = `package dedup_test

import (
	"testing"

	"github.com/idemsim/idemsim/idemsimtest"

	"example.com/shop/dedup"
)

func TestExpect(t *testing.T) {
	idemsimtest.ExactlyOnce(t, dedup.Strategy, idemsimtest.Options{
		Expect: map[string]string{"partition": "dup"},
	})
}
`

// userModuleFiles returns the code blocks of the README that follow a
// marker <!-- user-module: path -->, by path.
func userModuleFiles(t *testing.T, readme string) map[string]string {
	t.Helper()
	re := regexp.MustCompile("(?s)<!-- user-module: (\\S+) -->\n```go\n(.*?)```\n")
	files := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(readme, -1) {
		require.NotContains(t, files, m[1], "two README blocks for %s", m[1])
		files[m[1]] = m[2]
	}
	return files
}

// userDir returns an empty directory for the user's clone and module, the
// same one on every run from root: the go command's build cache keys a
// package on its directory, so that a clone in a new directory each time
// would rebuild every idemsim package, each run (half a minute on two
// cores). Two runs of this test from the same root at once would share it.
func userDir(t *testing.T, root string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("idemsim-readme-%x", sum[:6]))
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// writeUserFiles writes the README's files called names into the module
// at dir.
func writeUserFiles(t *testing.T, dir string, files map[string]string, names ...string) {
	t.Helper()
	for _, name := range names {
		path := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(files[name]), 0o644))
	}
}

// readmeCommands returns the command lines of the README's sh block
// between the markers <!-- name:start --> and <!-- name:end -->, without
// blank lines and comments.
func readmeCommands(t *testing.T, readme, name string) []string {
	t.Helper()
	block := readmeBlock(t, readme, name)
	require.Equal(t, "sh", block[0], "README's %s block is not a ```sh block", name)
	var lines []string
	for _, line := range block[1:] {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	require.NotEmpty(t, lines, "README's %s block has no command", name)
	return lines
}

// cloneURL is where the README clones idemsim from; the test clones this
// repository instead.
const cloneURL = "https://github.com/idemsim/idemsim.git"

// userShell runs the README's command lines as a shell would run them for
// the user, one at a time: cd changes its directory, and every other line
// is a program and its arguments (no pipes, no variables). A git clone of
// cloneURL clones this repository, as it is (see overlay).
type userShell struct {
	t    *testing.T
	root string // this repository
	dir  string // the current directory
	env  []string
}

// run runs one command line and returns its output.
func (sh *userShell) run(line string) (string, error) {
	t := sh.t
	t.Helper()
	words := shellWords(line)
	require.NotEmpty(t, words, "an empty command line")
	if words[0] == "cd" {
		require.Len(t, words, 2, "%s", line)
		dir := words[1]
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(sh.dir, dir)
		}
		info, err := os.Stat(dir)
		require.NoError(t, err, "%s", line)
		require.True(t, info.IsDir(), "%s: not a directory", line)
		sh.dir = dir
		return "", nil
	}
	var clone string
	if len(words) >= 3 && words[0] == "git" && words[1] == "clone" {
		require.Equal(t, cloneURL, words[2], "the README clones idemsim from elsewhere")
		words[2] = sh.root
		if len(words) == 3 { // the directory git names after the URL, not after root
			words = append(words, strings.TrimSuffix(path.Base(cloneURL), ".git"))
		}
		clone = filepath.Join(sh.dir, words[3])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, words[0], words[1:]...)
	cmd.Dir = sh.dir
	cmd.Env = sh.env
	out, err := cmd.CombinedOutput()
	if err == nil && clone != "" {
		overlay(t, sh.root, clone)
	}
	return string(out), err
}

// overlay brings the clone at dir to the working tree at root: the files
// changed since the last commit, committed or not, and the new ones git
// does not ignore, are copied, and the deleted ones deleted. So the README
// is held to the code as it is, as the rest of this package's tests are,
// and not to the last commit.
func overlay(t *testing.T, root, dir string) {
	t.Helper()
	git := func(args ...string) []string {
		out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output()
		require.NoError(t, err, "git %s", strings.Join(args, " "))
		return strings.FieldsFunc(string(out), func(r rune) bool { return r == 0 })
	}
	paths := append(git("diff", "--name-only", "--no-renames", "-z", "HEAD"), git("ls-files", "--others", "--exclude-standard", "-z")...)
	for _, p := range paths {
		from, to := filepath.Join(root, filepath.FromSlash(p)), filepath.Join(dir, filepath.FromSlash(p))
		info, err := os.Lstat(from)
		if os.IsNotExist(err) {
			require.NoError(t, os.RemoveAll(to))
			continue
		}
		require.NoError(t, err)
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(from)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
		require.NoError(t, os.WriteFile(to, data, info.Mode().Perm()))
	}
}

// userEnv is the environment of the user's commands: this one's, with
// go install's binaries in bin, offline and without a workspace. The
// module cache that this repository's build filled holds every module the
// user's module needs; the checksum database, which a user's go mod tidy
// asks about them, cannot be asked offline.
func userEnv(bin string) []string {
	return append(os.Environ(), "GOPROXY=off", "GOSUMDB=off", "GOWORK=off", "GOBIN="+bin)
}

// offlineHint says, when a go command failed for want of a module it
// could not look up offline, where the test looks for modules.
func offlineHint(out string) string {
	if strings.Contains(out, "GOPROXY=off") {
		return " (offline, the test finds idemsim only where the README's -replace points, and any other module only in the module cache, which go mod download in this repository fills)"
	}
	return ""
}

// readmeBlock returns the lines of the fenced block between the README's
// markers <!-- name:start --> and <!-- name:end -->.
func readmeBlock(t *testing.T, readme, name string) []string {
	t.Helper()
	start := "<!-- " + name + ":start -->\n"
	block := strings.TrimPrefix(between(readme, start, "<!-- "+name+":end -->"), start)
	require.NotEmpty(t, block, "README has no %s block", name)
	block = strings.TrimPrefix(strings.TrimSpace(block), "```")
	block = strings.TrimSuffix(block, "```")
	return strings.Split(strings.Trim(block, "\n"), "\n")
}

// updateReadme replaces the fenced block between the README's markers
// <!-- name:start --> and <!-- name:end --> with out, without trailing
// spaces. It reads the README again, to change nothing else.
func updateReadme(t *testing.T, name, out string) {
	t.Helper()
	path := filepath.Join("..", "README.md")
	readme, err := os.ReadFile(path)
	require.NoError(t, err)
	start, end := "<!-- "+name+":start -->\n", "<!-- "+name+":end -->"
	old := between(string(readme), start, end)
	require.NotEmpty(t, old, "README has no %s block", name)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimRight(line, " \t")
	}
	block := start + "```\n" + strings.Join(lines, "\n") + "\n```\n"
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(readme), old, block, 1)), 0o644))
}

// durations matches the times go test prints, which differ from run to run.
var durations = regexp.MustCompile(`\d+\.\d+s\b`)

// assertShows asserts that out shows every line of want, in order, lines
// of "..." standing for any number of lines; trailing spaces and the times
// go test prints do not count.
func assertShows(t *testing.T, out string, want []string) {
	t.Helper()
	norm := func(s string) string { return durations.ReplaceAllString(strings.TrimRight(s, " \t"), "T") }
	got := strings.Split(out, "\n")
	i := 0
	for _, w := range want {
		if strings.TrimSpace(w) == "..." {
			continue
		}
		for i < len(got) && norm(got[i]) != norm(w) {
			i++
		}
		if !assert.Less(t, i, len(got), "the README shows a line that go test does not print (or not in this order):\n%s\n\ngo test printed:\n%s", w, out) {
			return
		}
		i++
	}
}

// between returns the text of s from the first from (included) to the next
// to (excluded), or "".
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}

// lineAfter returns the rest of the first line of out that contains
// prefix, after it.
func lineAfter(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, prefix); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no line with %q in:\n%s", prefix, out)
	return ""
}

// shellWords splits a command line as a shell would, for the quoting the
// rerun line uses: words separated by spaces, single quotes kept together.
func shellWords(line string) []string {
	var words []string
	var w bytes.Buffer
	quoted, inWord := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
			}
			inWord = false
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}
