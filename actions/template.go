package actions

import (
	"maps"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// Template is a Go text/template over a fire's data: the customer's
// profile (`.name`, `.recency_days`, `.rfm.segment`, …) and the results of
// the rule's earlier actions by kind (`.coupon.code`). A name the data
// lacks is an error. Actions that render text for customers or guides
// (message, a task's note) parse theirs with ParseTemplate at load, so a
// misspelt name fails then, not at 10 a.m. for a million customers.
type Template struct {
	t *template.Template
}

// ParseTemplate compiles text, the value of the parameter field, and
// renders it once against lc's sample profile and earlier results. Its
// errors are *FieldError pointing at the line and column within text.
func ParseTemplate(field, text string, lc LoadContext) (*Template, error) {
	t, err := template.New(field).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, templateError(field, text, err)
	}
	tm := &Template{t: t}
	if lc.Sample != nil {
		// attrs are free-form, so the sample has none: a template quoting
		// one is not checked here, and should say {{index .attrs "city"}},
		// which renders empty for a customer without it.
		if _, err := tm.render(templateData(lc.Sample, lc.Earlier)); err != nil && !strings.Contains(err.Error(), "<.attrs.") {
			return nil, templateError(field, text, err)
		}
	}
	return tm, nil
}

// Personal reports whether the text depends on the data ({{.name}},
// {{.coupon.code}}): rendered for two customers it may differ. A text
// without actions is the same for everyone.
func (t *Template) Personal() bool {
	for _, n := range t.t.Tree.Root.Nodes {
		if n.Type() != parse.NodeText {
			return true
		}
	}
	return false
}

// RenderSample renders the template for lc's sample profile, "" when lc
// has none.
func (t *Template) RenderSample(lc LoadContext) (string, error) {
	if lc.Sample == nil {
		return "", nil
	}
	return t.render(templateData(lc.Sample, lc.Earlier))
}

// Render renders the template for a fire.
func (t *Template) Render(f *Fire) (string, error) {
	return t.render(templateData(f.Profile(), f.Results))
}

func (t *Template) render(d map[string]any) (string, error) {
	var b strings.Builder
	if err := t.t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// templateData is what a template sees: the profile, and earlier results
// by kind.
func templateData(profile map[string]any, results map[string]Result) map[string]any {
	d := make(map[string]any, len(profile)+len(results))
	maps.Copy(d, profile)
	for kind, r := range results {
		d[kind] = map[string]any(r)
	}
	return d
}

// templatePos finds "template: NAME:LINE:COL: …" or "template: NAME:LINE: …"
// in text/template's errors.
var templatePos = regexp.MustCompile(`^template: [a-z_]+:(\d+)(?::(\d+))?: (.*)$`)

// templateError turns an error of template text into a FieldError
// pointing into it.
func templateError(field, text string, err error) error {
	msg := err.Error()
	fe := &FieldError{Field: field, Message: msg}
	if m := templatePos.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			// text/template counts bytes; editors count characters, and
			// a Chinese one is three bytes.
			col, _ := strconv.Atoi(m[2])
			if lines := strings.Split(text, "\n"); fe.Line <= len(lines) && col <= len(lines[fe.Line-1]) {
				col = utf8.RuneCountInString(lines[fe.Line-1][:col])
			}
			fe.Col = col
		}
		fe.Message = strings.TrimPrefix(m[3], `executing "`+field+`" at `)
	}
	return fe
}
