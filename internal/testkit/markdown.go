package testkit

import (
	"regexp"
	"strings"
)

var markdownLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// HeadingAnchor is the anchor GitHub gives a Markdown heading: lower case,
// spaces as hyphens, punctuation other than hyphens and underscores
// dropped, link syntax reduced to its text. The documents' and the
// runbook's tests both check links against it.
func HeadingAnchor(heading string) string {
	heading = markdownLink.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r > 127:
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
