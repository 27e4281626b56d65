-- Email alerts: who asked (subscribers), what they follow (alerts), what was sent (deliveries, sent_items)
-- and recent sign-ups, for throttling. An address is kept only while it has an alert.
-- Ids are never reused (AUTOINCREMENT) and every signed link also carries the row's random nonce: a link
-- kept from a deleted address or alert can never act on a later one.
CREATE TABLE subscribers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    nonce TEXT NOT NULL,
    -- Raised to revoke every manage and unsubscribe link sent so far.
    token_version INTEGER NOT NULL DEFAULT 1,
    -- Refused deliveries in a row; at three the address is suspended until it signs up again.
    failures INTEGER NOT NULL DEFAULT 0,
    last_failure TEXT,
    suspended_at TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    nonce TEXT NOT NULL,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    -- The saved search as the query string of its search page (q, filters, from, to, decisions).
    search TEXT NOT NULL,
    label TEXT NOT NULL,
    frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'paused')),
    created_at TEXT NOT NULL,
    confirmed_at TEXT,
    -- The point of the index's arrivals log up to which new items have been looked at.
    watermark INTEGER NOT NULL DEFAULT 0,
    last_run_at TEXT,
    last_sent_at TEXT,
    UNIQUE (subscriber_id, search, frequency)
);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    created_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT
);

-- Every item an alert has sent: a re-run never sends one twice.
CREATE TABLE sent_items (
    alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    PRIMARY KEY (alert_id, item_id)
);

-- Sign-ups of the last day, by a keyed hash of the address or of the client: the addresses themselves
-- are not kept here.
CREATE TABLE signups (
    kind TEXT NOT NULL CHECK (kind IN ('address', 'client')),
    key TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX signups_by_key ON signups (kind, key, at);
