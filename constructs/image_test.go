package constructs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// No Docker engine runs here, so the Dockerfile's contract with the construct is checked as text:
// what the task definition relies on must be what the image provides.
func TestDockerfileProvidesWhatTheTaskDefinitionExpects(t *testing.T) {
	root, err := FindSourceDirectory()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, DockerfilePath))
	if err != nil {
		t.Fatal(err)
	}
	var stages []string // the lines of each stage, in order
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, "")
		}
		if len(stages) > 0 && line != "" && !strings.HasPrefix(line, "#") {
			stages[len(stages)-1] += line + "\n"
		}
	}
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[1]
	for _, want := range []string{"golang:1.25-bookworm", "COPY Makefile", "COPY consumer/", "make build"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q:\n%s", want, build)
		}
	}
	binary := HealthCheckCommand[1]
	for _, want := range []string{
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"/src/bin/keyspaces-cdc-s3 " + binary, // make build's output, where the health check runs it
		"USER nonroot",
		`ENTRYPOINT ["` + binary + `"]`,
	} {
		if !strings.Contains(final, want) {
			t.Errorf("final stage lacks %q:\n%s", want, final)
		}
	}

	// The build context is the repository root: only Makefile and consumer/ may enter it, or
	// cdk.out copies itself into the asset and every infra edit changes the image hash.
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(ignore), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	if len(patterns) < 3 || patterns[0] != "**" || patterns[1] != "!Makefile" || patterns[2] != "!consumer/" {
		t.Errorf(".dockerignore %q does not start by excluding everything but Makefile and consumer/", patterns)
	}
}
