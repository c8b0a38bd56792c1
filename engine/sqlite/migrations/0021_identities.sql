-- A customer's names in other systems (DESIGN §11): phone, unionid,
-- openid (kind "openid:APPID"), wecom_external_userid, member_no, email,
-- each value normalised (domain.NormalizeIdentity) and unique per kind:
-- one phone is one customer. Records keyed by an identity resolve
-- through it; the key is the lookup, so the table is its own index.
CREATE TABLE identities (
    kind        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
) STRICT, WITHOUT ROWID;
CREATE INDEX identities_customer ON identities (customer_id);
