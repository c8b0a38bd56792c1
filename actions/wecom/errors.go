package wecom

import (
	"fmt"
	"time"

	"github.com/koihq/koi/actions"
)

// WeCom's error codes that koi acts on (全局错误码). Programs must go by
// errcode, never errmsg, which WeCom rewords.
const (
	codeBusy           = -1    // 系统繁忙: try again
	codeInvalidSecret  = 40001 // 不合法的secret参数
	codeInvalidUserID  = 40003 // 无效的UserID: the sender
	codeInvalidCorpID  = 40013 // 不合法的CorpID
	codeInvalidToken   = 40014 // 不合法的access_token
	codeInvalidExtUser = 40096 // 不合法的外部联系人userid
	codeMissingToken   = 41001 // 缺少access_token参数
	codeTokenExpired   = 42001 // access_token已过期
	codeFreqLimit      = 45009 // 接口调用超过限制
	codeConcurrency    = 45033 // 接口并发调用超过限制
	codeAPIForbidden   = 48002 // API接口无权限调用
	codeIPNotAllowed   = 60020 // 不安全的访问IP
	codeUserNotFound   = 60111 // UserID不存在
	codeNoRelationship = 84061 // 不存在外部联系人的关系
)

// rateLimitWait is how long to leave WeCom alone after a rate limit: its
// limits are per minute.
const rateLimitWait = time.Minute

// tokenRejected reports whether the code says to fetch a new token.
func tokenRejected(code int) bool {
	return code == codeInvalidToken || code == codeTokenExpired || code == codeMissingToken
}

// classify maps an error reply to the dispatcher's contract: try again
// (busy, rate limits, and codes koi does not know), after a wait for rate
// limits, or give up (a wrong secret, corp or IP allow-list, a sender or
// recipient WeCom does not know, no contact between them). A config error
// dead-letters the job; after fixing koi.yaml, `koi jobs retry` sends it.
func classify(api string, r *reply) error {
	err := fmt.Errorf("wecom %s: errcode %d: %s", api, r.ErrCode, r.ErrMsg)
	switch r.ErrCode {
	case codeFreqLimit, codeConcurrency:
		return actions.RetryAfter(rateLimitWait, err)
	case codeInvalidSecret, codeInvalidCorpID, codeAPIForbidden, codeIPNotAllowed,
		codeInvalidUserID, codeUserNotFound, codeInvalidExtUser, codeNoRelationship:
		return actions.Permanent(err)
	case codeBusy:
		return err
	}
	if api == "gettoken" && r.ErrCode == 0 {
		return fmt.Errorf("wecom gettoken: the reply has no access_token")
	}
	return err
}
