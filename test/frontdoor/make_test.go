// Package frontdoor checks the Makefile, the repository's front door: what `make help` shows
// and what the targets a new user runs first would do (`make -n`, nothing is run).
package frontdoor

import (
	"os/exec"
	"strings"
	"testing"
)

// root is the repository root, seen from test/frontdoor.
const root = "../.."

func makeOut(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-s", "-C", root}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// Every description starts in the same column, whatever the length of the target names.
func TestMakeHelpColumnsAlign(t *testing.T) {
	lines := strings.Split(strings.TrimRight(makeOut(t, "help"), "\n"), "\n")
	if len(lines) < 10 {
		t.Fatalf("make help lists %d targets", len(lines))
	}
	col := -1
	for _, l := range lines {
		name := strings.Fields(l)[0]
		start := strings.Index(l, name) + len(name)
		desc := start + len(l[start:]) - len(strings.TrimLeft(l[start:], " "))
		if desc-start < 2 {
			t.Errorf("%q: the description touches the name", l)
		}
		if col >= 0 && desc != col {
			t.Errorf("%q: description at column %d, the others at %d", l, desc, col)
		}
		col = desc
	}
}

// make synth without CDK_ARGS synthesizes the sample table on purpose (-c demo=true), with
// CDK_ARGS exactly what was given; make deploy never adds the opt-in.
func TestMakeSynthOptsIntoTheSampleTableOnlyWithoutArgs(t *testing.T) {
	if out := makeOut(t, "-n", "synth"); !strings.Contains(out, "synth --quiet --app") || !strings.Contains(out, "-c demo=true") {
		t.Errorf("make -n synth:\n%s", out)
	}
	if out := makeOut(t, "-n", "synth", "CDK_ARGS=-c keyspace=shop -c table=orders"); strings.Contains(out, "demo=true") || !strings.Contains(out, "-c keyspace=shop -c table=orders") {
		t.Errorf("make -n synth CDK_ARGS=...:\n%s", out)
	}
	if out := makeOut(t, "-n", "deploy"); strings.Contains(out, "demo=true") {
		t.Errorf("make -n deploy adds the opt-in:\n%s", out)
	}
}

// make build (which the image's Dockerfile runs) names the build in the binary: --version and
// the start-up log say which build runs.
func TestMakeBuildStampsTheVersion(t *testing.T) {
	if out := makeOut(t, "-n", "build"); !strings.Contains(out, "-X main.version=") || strings.Contains(out, "-X main.version= ") {
		t.Errorf("make -n build:\n%s", out)
	}
}
