package constructs

import (
	"os"
	"strings"
	"testing"
)

// section returns the text of a Markdown file from a heading to the next heading of the same
// level or above.
func section(t *testing.T, path, heading string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("%s has no heading %q", path, heading)
	}
	level := strings.SplitN(heading, " ", 2)[0]
	rest := text[start+len(heading)+2:]
	for _, h := range []string{"\n# ", "\n## ", "\n### "} {
		if len(strings.TrimSpace(h)) <= len(level) {
			if end := strings.Index(rest, h); end >= 0 {
				rest = rest[:end]
			}
		}
	}
	return rest
}

// The construct's page lists every action the task role has, and the cost notes count the
// interface endpoints the template creates.
func TestDocsMatchTheTemplate(t *testing.T) {
	s := synth(t, baseProps(), stackOptions{})
	iam := section(t, "README.md", "### The task role")
	for sid, stmt := range s.statements(t, "CdcTaskRole") {
		for _, a := range list(stmt["Action"]) {
			action := strings.Trim(a, `"`)
			_, name, _ := strings.Cut(action, ":")
			if !strings.Contains(iam, "`"+action+"`") && !strings.Contains(iam, "`"+name+"`") {
				t.Errorf("README.md, The task role, does not list %s (statement %s)", action, sid)
			}
		}
	}
	for _, gone := range []string{"PutMetricData", "GetObject", "ListMultipartUploadParts", "DescribeTable"} {
		if i := strings.Index(iam, gone+"`"); i < 0 || !strings.Contains(strings.ToLower(iam[max(0, i-40):i]), "no ") {
			t.Errorf("README.md, The task role, should say the role has no %s", gone)
		}
	}

	costs, err := os.ReadFile("../docs/costs.md")
	if err != nil {
		t.Fatal(err)
	}
	for format, want := range map[string]int{"json": 4, "avro": 5} {
		props := baseProps()
		props.Format = format
		interfaces := 0
		for _, r := range synth(t, props, stackOptions{}).resources("AWS::EC2::VPCEndpoint") {
			if r["Properties"].(map[string]any)["VpcEndpointType"] == "Interface" {
				interfaces++
			}
		}
		if interfaces != want {
			t.Errorf("%s: %d interface endpoints, the cost notes count %d", format, interfaces, want)
		}
	}
	for _, claim := range []string{"4 × 2 AZs", "fifth, when a", "7 × 2 AZs ($102.20)", "4 × 2 AZs ($58.40)"} {
		if !strings.Contains(string(costs), claim) {
			t.Errorf("docs/costs.md lacks %q", claim)
		}
	}
}
