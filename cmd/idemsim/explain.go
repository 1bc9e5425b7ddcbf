package main

import "errors"

// explainSynopsis is the usage line of `idemsim explain`.
const explainSynopsis = "idemsim explain --strategy S [--faults F] [--instances N] [--out DIR]"

// explainCmd is `idemsim explain`. (Being written; see issue 4.)
func (e *env) explainCmd(args []string) error {
	return errors.New("explain: not written yet")
}
