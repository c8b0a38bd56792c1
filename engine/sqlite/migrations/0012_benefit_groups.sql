-- Benefit groups (DESIGN §3a, issue 19): rules that name one group, in
-- any playbooks, share cooldown and once. A grouped fire records its group
-- and its number within the group for the customer (gseq); the unique key
-- below is what stops two rules of one group, racing in two runs, from both
-- firing for one customer: the second insert collides and is dropped, as
-- a second fire of one rule collides on (playbook, rule, customer_id, seq).
-- Fires of rules without a group leave both NULL and cost the index nothing.
ALTER TABLE fires ADD COLUMN grp TEXT;
ALTER TABLE fires ADD COLUMN gseq INTEGER;
CREATE UNIQUE INDEX fires_group ON fires (grp, customer_id, gseq) WHERE grp IS NOT NULL;

-- A held run keeps the group number each would-be fire claims, so an
-- approval collides with a fire of the group written meanwhile.
ALTER TABLE held_fires ADD COLUMN gseq INTEGER NOT NULL DEFAULT 0;
