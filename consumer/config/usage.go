package config

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// PrintUsage writes every setting with its env var, flag and default.
func PrintUsage(w io.Writer) {
	fmt.Fprintln(w, "keyspaces-cdc-s3: copies every change of an Amazon Keyspaces table's CDC stream to S3.")
	fmt.Fprintln(w, "\nUsage: keyspaces-cdc-s3 [flags]        run the consumer")
	fmt.Fprintln(w, "       keyspaces-cdc-s3 healthcheck    exit 0 when this host's /healthz answers 200")
	fmt.Fprintln(w, "\nEvery setting is an environment variable or the flag beside it (a flag wins).")
	fmt.Fprintln(w, "AWS settings come from the standard AWS environment: AWS_REGION, the credential chain,")
	fmt.Fprintln(w, "AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_KEYSPACESSTREAMS, AWS_ENDPOINT_URL_KEYSPACES.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tFLAG\tDEFAULT\tMEANING")
	for _, s := range table {
		def := s.DefaultText()
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t--%s\t%s\t%s\n", s.Env, s.Flag, def, s.Meaning)
	}
	tw.Flush()
}

// DefaultText is the default as the docs show it: the value, or how it is derived, or "".
func (s Setting) DefaultText() string {
	if s.Default != "" {
		return s.Default
	}
	return s.DefaultNote
}

// AllowedText describes the values the setting accepts, for the docs.
func (s Setting) AllowedText() string {
	lo, hi := s.Limits()
	switch s.Kind {
	case Choice:
		return strings.Join(s.Allowed, ", ")
	case Compression:
		return compressionsText()
	case Bool:
		return "true, false"
	case Int:
		return fmt.Sprintf("%s to %s", lo, hi)
	case Bytes:
		return fmt.Sprintf("%s to %s bytes", lo, hi)
	case Duration:
		return fmt.Sprintf("%s to %s", lo, hi)
	}
	switch {
	case s.Pattern != nil:
		return s.Shape
	case s.NonEmpty:
		return "non-empty text"
	}
	return "any text"
}

// MarkdownTable renders the settings as the table of docs/configuration.md (kept in sync by a test).
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Env var | Flag | Default | Meaning |\n|---|---|---|---|\n")
	for _, s := range table {
		def := "`" + s.DefaultText() + "`"
		if s.DefaultText() == "" {
			def = "—"
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s |\n", s.Env, s.Flag, def, s.Meaning)
	}
	return b.String()
}

// ReferenceTable renders every setting with all its names (env var, flag, CDK context
// parameter, construct prop), its default, the values it allows and its meaning.
func ReferenceTable() string {
	var b strings.Builder
	b.WriteString("| Env var | Flag | Context parameter | Construct prop | Default | Allowed | Meaning |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, s := range table {
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s | %s | %s | %s |\n", s.Env, s.Flag,
			code(s.Context), code(s.Prop), code(s.DefaultText()), cell(s.AllowedText()), cell(s.Meaning))
	}
	return b.String()
}

// code renders a value as code in a table cell, "—" when empty.
func code(v string) string {
	if v == "" {
		return "—"
	}
	return "`" + strings.ReplaceAll(v, "|", `\|`) + "`"
}

// cell escapes what would break a Markdown table cell.
func cell(v string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(v)
}
