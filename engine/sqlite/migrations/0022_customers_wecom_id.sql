-- A customer's wecom_id (how WeCom reaches them) names them as their
-- wecom_external_userid too: a record or WeCom callback keyed by that
-- identity finds a customer imported with the field before identities
-- existed (ResolveIdentities). Only customers with one are indexed.
CREATE INDEX customers_wecom_id ON customers (wecom_id) WHERE wecom_id != '';
