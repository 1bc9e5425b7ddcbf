package main

import "errors"

// plotSynopsis is the usage line of `idemsim plot`.
const plotSynopsis = "idemsim plot [--in results] [--out results]"

// plotCmd is `idemsim plot`. (Being written; see issue 4.)
func (e *env) plotCmd(args []string) error {
	return errors.New("plot: not written yet")
}
