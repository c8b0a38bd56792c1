package cli

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// newBar returns a progress bar on w. It draws only on a terminal, so logs
// and CI output stay clean.
func newBar(total int, what string, w io.Writer) *progressbar.ProgressBar {
	visible := false
	if f, ok := w.(*os.File); ok {
		visible = isatty.IsTerminal(f.Fd())
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetVisibility(visible),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)
}
