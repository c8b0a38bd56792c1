// Command customaction is koi with one third-party plugin, loyalty points:
// the whole of a custom koi is this main.
package main

import (
	"os"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/cli"
	"github.com/koihq/koi/examples/customaction/loyalty"
)

func main() { os.Exit(cli.Main(os.Args[1:], builtin.Register, loyalty.Register)) }
