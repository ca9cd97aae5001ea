// Package docs checks the repository's Markdown: every relative link in README.md, docs/*.md
// and constructs/README.md names a file that exists, and every #anchor a heading of that file,
// slugged as GitHub slugs it. A moved file or a renamed heading fails here, not in a reader's
// browser.
package docs

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// root is the repository root, seen from test/docs.
const root = "../.."

// checkedFiles are the Markdown files whose links must resolve: the front door, the pages
// behind it and the construct's page. README.md, constructs/README.md and at least one page
// under docs/ must exist, so the check cannot pass by finding nothing.
func checkedFiles(t *testing.T, root string) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatalf("no Markdown pages under %s", filepath.Join(root, "docs"))
	}
	files := append([]string{filepath.Join(root, "README.md"), filepath.Join(root, "constructs", "README.md")}, pages...)
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func TestRelativeLinksResolve(t *testing.T) {
	checked := 0
	for _, file := range checkedFiles(t, root) {
		links, err := checkFile(root, file)
		if err != nil {
			t.Error(err)
		}
		checked += links
	}
	t.Logf("%d relative links checked", checked)
}

// TestBrokenLinksAreFound runs the check on fixtures that hold one broken link each: the check
// itself must not pass by seeing nothing.
func TestBrokenLinksAreFound(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("docs/target.md", "# Target\n\n## Changing the format safely (json ↔ avro)\n\n## Twice\n\n## Twice\n")
	write("code.go", "package x\n")

	good := write("docs/good.md", strings.Join([]string{
		"# Good",
		"[a page](target.md), [a heading](target.md#changing-the-format-safely-json--avro),",
		"[the second of two](target.md#twice-1), [here](#good), [a file](../code.go#L1),",
		"[a folder](../docs), ![an image](target.md), [abs](https://example.com/x.md#nope),",
		"[ref]: target.md#target",
		"`[in code](missing.md)`",
		"```",
		"[in a fence](missing.md)",
		"```",
	}, "\n"))
	if n, err := checkFile(dir, good); err != nil || n != 8 {
		t.Errorf("good page: %d links checked, err %v; want 8 and no error", n, err)
	}

	for name, link := range map[string]string{
		"missing file":          "[x](missing.md)",
		"missing anchor":        "[x](target.md#no-such-heading)",
		"missing local anchor":  "[x](#no-such-heading)",
		"third of two":          "[x](target.md#twice-2)",
		"anchor in a code file": "[x](../code.go#main)",
		"outside the repo":      "[x](../../elsewhere.md)",
		"reference definition":  "[x]: missing.md",
		"image":                 "![x](missing.png)",
	} {
		bad := write("docs/bad.md", "# Bad\n\nSome text, then\n"+link+"\n")
		if _, err := checkFile(dir, bad); err == nil {
			t.Errorf("%s: %s passed the check", name, link)
		}
	}
}

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Changing the format safely (json ↔ avro)":                     "changing-the-format-safely-json--avro",
		"Run it locally: `make demo`":                                  "run-it-locally-make-demo",
		"End-to-end tests (`test/e2e`, part of `make test`)":           "end-to-end-tests-teste2e-part-of-make-test",
		"leases: DynamoDB calls and rebalance times (consumer/worker)": "leases-dynamodb-calls-and-rebalance-times-consumerworker",
		"`CDC_FLUSH_INTERVAL` and friends":                             "cdc_flush_interval-and-friends",
		"The [construct](constructs/README.md) & its **props**":        "the-construct--its-props",
		"Café, 2 × 3 — ok?":                                            "café-2--3--ok",
		"Costs: 7 endpoints, $4.64 a day":                              "costs-7-endpoints-464-a-day",
	} {
		if got := slug(headingText(heading)); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

var (
	fence      = regexp.MustCompile("^ {0,3}(```+|~~~+)")
	atxHeading = regexp.MustCompile(`^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	// An inline link or image: [text](destination "title"); the text may hold one level of
	// brackets, the destination may be in <>.
	inlineLink = regexp.MustCompile(`!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s)]*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)`)
	// A link reference definition: [label]: destination.
	referenceDef = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)`)
	htmlAnchor   = regexp.MustCompile(`<a\s[^>]*(?:id|name)="([^"]+)"`)
	scheme       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	lineAnchor   = regexp.MustCompile(`^L\d+(-L\d+)?$`)
)

// checkFile checks every relative link of one Markdown file against the files under root
// and returns how many it checked, with one error listing every broken link.
func checkFile(root, file string) (int, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return 0, err
	}
	var broken []string
	n := 0
	for _, l := range links(string(body)) {
		if l.dest == "" || strings.HasPrefix(l.dest, "//") || scheme.MatchString(l.dest) {
			continue // absolute: not this check's business
		}
		n++
		if err := resolve(absRoot, file, l.dest); err != nil {
			broken = append(broken, fmt.Sprintf("%s:%d: %s: %v", file, l.line, l.dest, err))
		}
	}
	if len(broken) > 0 {
		return n, fmt.Errorf("broken links:\n%s", strings.Join(broken, "\n"))
	}
	return n, nil
}

// resolve checks one relative destination of file: the path (relative to file's folder, or
// file itself when empty) must exist inside root, and an anchor must be a heading (or an HTML
// anchor) of a Markdown target, or a line anchor (#L10, #L10-L20) of any other file.
func resolve(absRoot, file, dest string) error {
	path, anchor, _ := strings.Cut(dest, "#")
	path, err := url.PathUnescape(path)
	if err != nil {
		return err
	}
	target := file
	if path != "" {
		target = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
	}
	absTarget, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(absRoot, absTarget); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("points outside the repository")
	}
	info, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("no such file")
	}
	if anchor == "" {
		return nil
	}
	if info.IsDir() || !strings.EqualFold(filepath.Ext(target), ".md") {
		if !info.IsDir() && lineAnchor.MatchString(anchor) {
			return nil
		}
		return fmt.Errorf("anchor #%s on a file that is not Markdown", anchor)
	}
	body, err := os.ReadFile(target)
	if err != nil {
		return err
	}
	anchors := anchorsOf(string(body))
	if anchor, err = url.PathUnescape(anchor); err != nil {
		return err
	}
	if !slices.Contains(anchors, anchor) {
		return fmt.Errorf("no heading #%s in %s (it has: %s)", anchor, filepath.Base(target), strings.Join(anchors, ", "))
	}
	return nil
}

type link struct {
	dest string
	line int
}

// links lists the destinations of the inline links, images and reference definitions of a
// Markdown text, outside fenced code blocks and code spans.
func links(text string) []link {
	var out []link
	for i, line := range proseLines(text) {
		if line == "" {
			continue
		}
		if m := referenceDef.FindStringSubmatch(line); m != nil {
			out = append(out, link{strings.Trim(m[1], "<>"), i + 1})
			continue
		}
		for _, m := range inlineLink.FindAllStringSubmatch(withoutCodeSpans(line), -1) {
			out = append(out, link{strings.Trim(m[1], "<>"), i + 1})
		}
	}
	return out
}

// anchorsOf lists the anchors a Markdown text defines: each ATX heading's GitHub slug (the
// n-th repeat of a slug gets "-n") and each HTML anchor's id or name.
func anchorsOf(text string) []string {
	var out []string
	seen := map[string]int{}
	for _, line := range proseLines(text) {
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := slug(headingText(m[1]))
		if k := seen[s]; k > 0 {
			seen[s]++
			s = fmt.Sprintf("%s-%d", s, k)
		} else {
			seen[s] = 1
		}
		out = append(out, s)
	}
	return out
}

// proseLines returns the lines of text with those of fenced code blocks (fences included)
// blanked, so line numbers stay right.
func proseLines(text string) []string {
	lines := strings.Split(text, "\n")
	open := ""
	for i, line := range lines {
		m := fence.FindStringSubmatch(line)
		switch {
		case open == "" && m != nil:
			open = m[1]
			lines[i] = ""
		case open != "":
			if m != nil && m[1][0] == open[0] && len(m[1]) >= len(open) && strings.TrimSpace(line[strings.Index(line, m[1])+len(m[1]):]) == "" {
				open = ""
			}
			lines[i] = ""
		}
	}
	return lines
}

// withoutCodeSpans drops the code spans of one line: `a`, “a ` b“.
func withoutCodeSpans(line string) string {
	var b strings.Builder
	for {
		start := strings.IndexByte(line, '`')
		if start < 0 {
			return b.String() + line
		}
		ticks := len(line[start:]) - len(strings.TrimLeft(line[start:], "`"))
		rest := line[start+ticks:]
		end := -1
		for off := 0; off < len(rest); {
			j := strings.IndexByte(rest[off:], '`')
			if j < 0 {
				break
			}
			run := len(rest[off+j:]) - len(strings.TrimLeft(rest[off+j:], "`"))
			if run == ticks {
				end = off + j
				break
			}
			off += j + run
		}
		if end < 0 { // no closing run: the backticks are literal
			b.WriteString(line[:start+ticks])
			line = rest
			continue
		}
		b.WriteString(line[:start])
		line = rest[end+ticks:]
	}
}

var (
	headingLink = regexp.MustCompile(`!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)`)
	htmlTag     = regexp.MustCompile(`<[^>]+>`)
)

// headingText is the text GitHub renders for a heading's Markdown: links and images become
// their text, code spans their content, HTML tags go.
func headingText(md string) string {
	md = headingLink.ReplaceAllString(md, "$1")
	md = htmlTag.ReplaceAllString(md, "")
	md = strings.ReplaceAll(md, "`", "")
	return strings.TrimSpace(md)
}

// slug is GitHub's anchor for a heading's text (github-slugger): lowercased; letters, marks,
// decimal and letter numbers, connector punctuation ("_"), "-" and " " kept, everything else
// dropped; each space becomes "-".
func slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-',
			unicode.In(r, unicode.L, unicode.M, unicode.Nd, unicode.Nl, unicode.Pc, unicode.Other_Alphabetic):
			b.WriteRune(r)
		}
	}
	return b.String()
}
