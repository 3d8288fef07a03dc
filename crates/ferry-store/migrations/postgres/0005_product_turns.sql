-- Queue-mode turns (SPEC §3.9 across replicas): the release of each product that may run now. A
-- release takes its product's turn before it starts; the row lock serialises replicas deciding at the
-- same moment, so two releases of a queue-mode product never run at once, whichever replicas created
-- them.
CREATE TABLE product_turns (
    product    TEXT COLLATE "C" PRIMARY KEY,
    release_id TEXT COLLATE "C" NOT NULL
);
