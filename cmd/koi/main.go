// Command koi is the koi marketing automation server and its tools, with
// the built-in actions and channels.
package main

import (
	"os"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], builtin.Register)) }
