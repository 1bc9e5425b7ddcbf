package strategies

import (
	"fmt"
	"regexp"
)

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// ValidatePrefix checks a name prefix for the keys and tables a real store
// creates: a lowercase letter, then up to 39 lowercase letters, digits or
// underscores. The rule keeps the prefix safe to splice into SQL identifiers
// and Redis key patterns, so nothing outside the prefix is ever touched.
func ValidatePrefix(p string) error {
	if !prefixRE.MatchString(p) {
		return fmt.Errorf("strategies: bad prefix %q: want a lowercase letter, then up to 39 lowercase letters, digits or underscores (e.g. idemsim)", p)
	}
	return nil
}
