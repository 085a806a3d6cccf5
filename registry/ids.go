package registry

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxOperatorJourneyIDLength is the registry's limit on an
// operator_journey_id, in characters: the submission schema stores it as a
// varchar(256). The pattern ^[a-z0-9]{1,256}$ printed in the seed and the
// specs is not enforced by the servers (docs/registry.md, "Journey ids"),
// whose own tests submit UUIDs.
const MaxOperatorJourneyIDLength = 256

// CheckOperatorJourneyID refuses only what the registry refuses: an empty
// id, one longer than 256 characters, or one that is not text (invalid
// UTF-8 or a NUL byte, which PostgreSQL cannot store). Hyphens, capitals,
// dots, spaces, slashes… are all ids; the client escapes them in paths.
func CheckOperatorJourneyID(id string) error {
	switch {
	case id == "":
		return errors.New("an operator_journey_id is 1 to 256 characters; this one is empty")
	case !utf8.ValidString(id):
		return errors.New("an operator_journey_id is text; this one is not valid UTF-8")
	case strings.IndexByte(id, 0) >= 0:
		return errors.New("an operator_journey_id cannot hold a NUL character")
	}
	if n := utf8.RuneCountInString(id); n > MaxOperatorJourneyIDLength {
		return fmt.Errorf("an operator_journey_id is 1 to 256 characters; this one has %d", n)
	}
	return nil
}

// ValidOperatorJourneyID tells whether the registry accepts s as an
// operator_journey_id (see CheckOperatorJourneyID).
func ValidOperatorJourneyID(s string) bool { return CheckOperatorJourneyID(s) == nil }

// maxV2JourneyID bounds the v2 API's journey_id, a PostgreSQL bigint.
const maxV2JourneyID = 1<<63 - 1

// CanonicalV2JourneyID reads a v2 journey_id, the registry's own number,
// and gives its canonical decimal form: "007" and "7" are one journey.
func CanonicalV2JourneyID(id string) (string, error) {
	if id == "" || len(id) > 64 || strings.TrimLeft(id, "0123456789") != "" {
		return "", fmt.Errorf("%q: the v2 API follows the registry's numeric journey_id", truncate(id, 64))
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n > maxV2JourneyID {
		return "", fmt.Errorf("%q: a v2 journey_id is a number below 2^63", truncate(id, 64))
	}
	return strconv.FormatUint(n, 10), nil
}
