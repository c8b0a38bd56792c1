package cli

import (
	"os"

	"github.com/koihq/koi/actions/wecom/callback"
)

// wecomCallbackConfig is koi.yaml's wecom_callback: where WeCom's callback
// (the admin console's 接收事件服务器 settings) is checked and decrypted.
type wecomCallbackConfig struct {
	// CorpID is the corp (企业ID) the messages must be for.
	CorpID string `yaml:"corp_id"`
	// TokenEnv and AESKeyEnv name the environment variables holding the
	// callback's Token and EncodingAESKey: secrets stay out of the file.
	TokenEnv  string `yaml:"token_env"`
	AESKeyEnv string `yaml:"aes_key_env"`
}

// validateWeComCallback checks wecom_callback's keys, not its secrets:
// only koi serve needs them (a command that does not serve runs without).
func (c *config) validateWeComCallback() error {
	w := c.WeComCallback
	if w == (wecomCallbackConfig{}) {
		return nil
	}
	for _, k := range []struct{ key, val, want string }{
		{"wecom_callback.corp_id", w.CorpID, "the corp's id (企业ID), from the admin console"},
		{"wecom_callback.token_env", w.TokenEnv, "the environment variable holding the callback's Token"},
		{"wecom_callback.aes_key_env", w.AESKeyEnv, "the environment variable holding the callback's EncodingAESKey"},
	} {
		if k.val == "" {
			return c.keyError(k.key, "is required: %s", k.want)
		}
	}
	return nil
}

// wecomCallback returns the callback's Crypt, with its secrets from the
// environment; nil when koi.yaml has no wecom_callback.
func (c *config) wecomCallback() (*callback.Crypt, error) {
	w := c.WeComCallback
	if w == (wecomCallbackConfig{}) {
		return nil, nil
	}
	token, key := os.Getenv(w.TokenEnv), os.Getenv(w.AESKeyEnv)
	if token == "" {
		return nil, c.keyError("wecom_callback.token_env", "environment variable %s is empty or unset", w.TokenEnv)
	}
	crypt, err := callback.New(token, key, w.CorpID)
	if err != nil {
		return nil, c.keyError("wecom_callback.aes_key_env", "environment variable %s: %v", w.AESKeyEnv, err)
	}
	return crypt, nil
}
