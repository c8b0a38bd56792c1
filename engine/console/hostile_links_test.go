package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/koihq/koi/engine/domain"
)

var customerLink = regexp.MustCompile(`<td><a href="([^"]*)">`)

// A customer id may hold '#', '?' or '/' (ValidateCustomer allows them);
// the search's link to such a customer must open that customer's page.
func TestReviewCustomerLinksWithReservedCharacters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, id := range []string{"shop#42", "shop?42", "shop/42"} {
		cu := domain.Customer{ID: id, Name: "Reserved", Tier: "vip"}
		if err := domain.ValidateCustomer(&cu, []string{"normal", "silver", "gold", "vip"}); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if err := f.db.UpsertCustomers(ctx, []domain.Customer{cu}, anchor); err != nil {
			t.Fatal(err)
		}
	}
	c := f.client()
	f.signIn(c, marketerSecret)
	_, page := f.get(c, "/customers?q=Reserved")
	links := customerLink.FindAllStringSubmatch(page, -1)
	if len(links) != 3 {
		t.Fatalf("found %d links\n%s", len(links), page)
	}
	for _, m := range links {
		href := html.UnescapeString(m[1])
		res, p := f.get(c, href)
		h1 := regexp.MustCompile(`<h1>([^<]*)</h1>`).FindStringSubmatch(p)
		var got string
		if h1 != nil {
			got = h1[1]
		}
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(html.UnescapeString(got), "shop") {
			u, _ := url.Parse(href)
			t.Errorf("link %q (path %q): %d, heading %q", href, u.Path, res.StatusCode, got)
		}
	}
}

// Requests that fail the sign-in form's token check (no cookie, no
// form) must not spend the shared sign-in budget: else anyone could keep
// a marketer from signing in.
func TestReviewJunkSignInsLockOutRealOnes(t *testing.T) {
	f := newFixture(t)
	junk := &http.Client{}
	for i := 0; i < 20; i++ {
		res, err := junk.PostForm(f.srv.URL+"/signin", url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	c := f.client()
	if res, _ := f.signIn(c, marketerSecret); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after 20 token-less posts by someone else, a real sign-in answers %d", res.StatusCode)
	}
}
