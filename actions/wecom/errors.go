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
	codeInvalidParam   = 40058 // 不合法的参数
	codeEmptyParam     = 40063 // 参数为空
	codeInvalidExtUser = 40096 // 不合法的外部联系人userid
	codeMissingToken   = 41001 // 缺少access_token参数
	codeNoCustomer     = 41048 // 无可发送的客户
	codeTokenExpired   = 42001 // access_token已过期
	codeFreqLimit      = 45009 // 接口调用超过限制
	codeConcurrency    = 45033 // 接口并发调用超过限制
	codeAPIForbidden   = 48002 // API接口无权限调用
	codeNoPermission   = 60011 // 指定的成员/部门/标签参数无权限
	codeIPNotAllowed   = 60020 // 不安全的访问IP
	codeUserNotFound   = 60111 // UserID不存在
	codeAllIDsInvalid  = 81013 // UserID、部门ID、标签ID全部非法或无权限
	codeNoRelationship = 84061 // 不存在外部联系人的关系
)

// How long to leave WeCom alone after a rate limit. Past a frequency limit
// (45009: so many calls of an API a minute, and an hour) WeCom blocks the
// API for the rest of the hour, so koi waits an hour rather than burn its
// attempts knocking; a concurrency limit (45033) clears as soon as calls
// in flight finish.
const (
	freqLimitWait   = time.Hour
	concurrencyWait = 10 * time.Second
)

// tokenRejected reports whether the code says to fetch a new token.
func tokenRejected(code int) bool {
	return code == codeInvalidToken || code == codeTokenExpired
}

// classify maps an error reply to the dispatcher's contract: try again
// (busy, and codes koi does not know), wait out a rate limit without
// using an attempt, or give up: a wrong secret, corp or IP allow-list, a
// sender or recipient WeCom does not know or koi may not use, a parameter
// WeCom refuses — retrying the same request cannot help. A config error
// dead-letters the job; after fixing koi.yaml, `koi jobs retry` sends it.
func classify(api string, r *reply) error {
	err := fmt.Errorf("wecom %s: errcode %d: %s", api, r.ErrCode, r.ErrMsg)
	switch code := r.ErrCode; {
	case code == codeFreqLimit:
		return actions.Throttled(freqLimitWait, err)
	case code == codeConcurrency:
		return actions.Throttled(concurrencyWait, err)
	case code == codeMissingToken:
		return actions.Permanentf("wecom %s: errcode 41001 (access_token missing): koi sent the request without its token, which is a bug in koi; please report it", api)
	case code == codeBusy:
		return err
	case api == "gettoken" && code == 0:
		return fmt.Errorf("wecom gettoken: the reply has no access_token")
	case permanent(code):
		return actions.Permanent(err)
	}
	return err
}

// permanent reports whether an errcode is a refusal the same request will
// meet again: the documented ones koi has seen, and the parameter (40xxx,
// 41xxx), permission (48xxx, 60xxx) and customer-contact (81xxx, 84xxx)
// ranges they belong to.
func permanent(code int) bool {
	switch code {
	case codeInvalidSecret, codeInvalidCorpID, codeAPIForbidden, codeIPNotAllowed, codeInvalidUserID, codeUserNotFound,
		codeInvalidExtUser, codeNoRelationship, codeInvalidParam, codeEmptyParam, codeNoCustomer, codeNoPermission, codeAllIDsInvalid:
		return true
	case codeInvalidToken, codeTokenExpired:
		return false
	}
	return (code >= 40000 && code < 42000) || (code >= 48000 && code < 49000) || (code >= 60000 && code < 61000) ||
		(code >= 81000 && code < 82000) || (code >= 84000 && code < 85000)
}
