package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// Customer search bounds: a page, what one request looks at, and how long
// it may take.
const (
	customersPerPage = 50
	customersMaxScan = 200_000
	searchBudget     = 5 * time.Second
	// maxWhere bounds the expression a search takes (rules bounds it too).
	maxWhere = 2000
)

// customerFilters are the search form's fields, in order.
var customerFilters = []string{"q", "segment", "lifecycle", "tier", "tag", "where"}

type customersData struct {
	Form      url.Values
	Segments  []string
	Stages    []string
	Tiers     []string
	Searched  bool
	Customers []map[string]any
	// Next is the query string of the next page, when there is one,
	// encoded already (url.Values.Encode): the template must not encode it
	// again.
	Next template.URL
}

// customersPage searches customers by id or name, segment, lifecycle,
// tier, tag and an expression, a page at a time.
func (s *server) customersPage(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	d := &customersData{Form: url.Values{}, Segments: profile.Segments, Stages: profile.Stages, Tiers: s.engine.Tiers()}
	for _, f := range customerFilters {
		if val := strings.TrimSpace(q.Get(f)); val != "" {
			d.Form.Set(f, val)
			d.Searched = true
		}
	}
	v.Title, v.Data = "customers.title", d
	if !d.Searched {
		s.render(w, r, http.StatusOK, "customers", v)
		return
	}
	query := engine.CustomerQuery{Text: d.Form.Get("q"), Segment: d.Form.Get("segment"), Lifecycle: d.Form.Get("lifecycle"),
		Tier: d.Form.Get("tier"), Tag: d.Form.Get("tag"), Limit: customersPerPage, MaxScan: customersMaxScan}
	if n := q.Get("next"); n != "" {
		from, err := strconv.Atoi(n)
		if err != nil || from < 0 {
			v.Error = translate(v.Lang, "error.bad_query", "next")
			s.render(w, r, http.StatusBadRequest, "customers", v)
			return
		}
		query.From = from
	}
	if src := d.Form.Get("where"); src != "" {
		if len(src) > maxWhere {
			v.Error = translate(v.Lang, "customers.where_long", maxWhere)
			s.render(w, r, http.StatusBadRequest, "customers", v)
			return
		}
		where, err := rules.CompileExpr(src, profile.ExprEnv())
		if err != nil {
			v.Error = translate(v.Lang, "customers.where_bad", err.Error())
			s.render(w, r, http.StatusBadRequest, "customers", v)
			return
		}
		query.Where = where
	}
	ctx, cancel := context.WithTimeout(r.Context(), searchBudget)
	defer cancel()
	page, err := s.engine.FindCustomers(ctx, s.cfg.Now(), query)
	var de *domain.Error
	switch {
	case errors.As(err, &de) && de.Code == domain.EInvalid:
		v.Error = translate(v.Lang, "customers.where_bad", de.Message)
		s.render(w, r, http.StatusBadRequest, "customers", v)
		return
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		v.Error = translate(v.Lang, "customers.too_slow", page.Scanned)
		d.Customers = page.Customers
		s.render(w, r, http.StatusOK, "customers", v)
		return
	case err != nil:
		s.internal(w, r, v, err)
		return
	}
	d.Customers = page.Customers
	if page.Next >= 0 {
		next := url.Values{}
		for k, vals := range d.Form {
			next[k] = vals
		}
		next.Set("next", strconv.Itoa(page.Next))
		d.Next = template.URL(next.Encode()) // #nosec: query values, encoded
	}
	s.render(w, r, http.StatusOK, "customers", v)
}

type customerData struct {
	View *engine.CustomerView
	// Values are the profile's values by name, in name order.
	Values []nameValue
	// Rules are the loaded rules, as playbook/rule, for explain.
	Rules   []string
	Explain string
	X       *evaluate.Explanation
	XError  string
}

type nameValue struct {
	Name  string
	Value string
}

// customerPage shows one customer: stored fields, the profile now, the
// latest events, fires, coupons, messages and journeys, and "why / why
// not" for a rule or a journey's step (?explain=playbook/rule).
func (s *server) customerPage(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	now := s.cfg.Now()
	cv, err := s.engine.ViewCustomer(r.Context(), id, now)
	if err != nil {
		s.storeFailure(w, r, v, err)
		return
	}
	id = cv.Customer.ID // a merged id shows the customer it was merged into
	d := &customerData{View: cv, Explain: r.URL.Query().Get("explain")}
	for name, val := range cv.Profile {
		d.Values = append(d.Values, nameValue{name, formatValue(val)})
	}
	sort.Slice(d.Values, func(i, j int) bool { return d.Values[i].Name < d.Values[j].Name })
	for _, pb := range s.engine.Playbooks() {
		for _, rl := range pb.Rules {
			d.Rules = append(d.Rules, pb.Name+"/"+rl.ID)
		}
		if pb.Journey != nil {
			d.Rules = append(d.Rules, pb.Name) // the customer's next step
			for _, st := range pb.Journey.Steps {
				d.Rules = append(d.Rules, pb.Name+"/"+st.ID)
			}
		}
	}
	sort.Strings(d.Rules)
	status := http.StatusOK
	if d.Explain != "" {
		pb, rule, _ := strings.Cut(d.Explain, "/")
		x, err := s.engine.Explain(r.Context(), engine.ExplainRequest{Playbook: pb, Rule: rule, CustomerID: id, At: now})
		var de *domain.Error
		switch {
		case errors.As(err, &de):
			d.XError, status = de.Message, http.StatusBadRequest
		case err != nil:
			s.internal(w, r, v, err)
			return
		default:
			d.X = x
		}
	}
	v.Title, v.Data = "customer.title", d
	s.render(w, r, status, "customer", v)
}

// formatValue shows a profile value: nil as a dash, lists and maps as Go
// prints them, floats without trailing zeros.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "–"
	case *int:
		if x == nil {
			return "–"
		}
		return strconv.Itoa(*x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return x.Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}
