-- A fire is written once per (rule, customer, cooldown period) and read
-- in bulk; each index on fires is one more b-tree insert per fire, on the
-- path a run waits for. The unique key (playbook, rule, customer_id, seq)
-- stays: it is what makes a fire happen once.
--
-- fires_run is not needed to list a run's fires: a run writes its fires
-- with ids it numbers itself under the write lock, so they lie in one id
-- range per batch, and `WHERE id BETWEEN ? AND ? AND run_id = ?` scans
-- just those rows.
--
-- fires_customer is not needed for a customer's history: the unique key
-- finds a customer's fires with one seek per (playbook, rule), of which
-- there are tens, not millions:
-- `WHERE playbook = ? AND rule = ? AND customer_id = ?` for each.
DROP INDEX fires_run;
DROP INDEX fires_customer;

-- The id range of each run's fires (NULL while it has none).
ALTER TABLE runs ADD COLUMN first_fire_id INTEGER;
ALTER TABLE runs ADD COLUMN last_fire_id INTEGER;
