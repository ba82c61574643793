-- One ledger command as eventsourcing 9.5's PostgreSQL recorder runs it (POSTGRES_ENABLE_DB_FUNCTIONS=n, the default):
-- read the stream (one autocommit SELECT, as repository.get does), then one transaction that
-- takes the EXCLUSIVE table lock, notifies the channel and inserts the next version from an array of stored_event_uuid.
-- Each client writes its own streams (client_id * 1,000,000 + n), so clients never collide on a version.
-- Run with -M prepared -D streams=N -D topic=skill_ledger.domain:SkillRecord.Assessed (a ':' in a literal
-- would be read as a variable). The state is a real 495-byte Assessed payload, hex-encoded for the same reason.
\set stream random(1, :streams)
\set last_version 0
SELECT originator_id AS read_id, originator_version AS last_version, topic AS read_topic, state AS read_state, notification_id AS read_position FROM ledger_events WHERE originator_id = lpad(to_hex(:client_id * 1000000 + :stream), 32, '0')::uuid ORDER BY originator_version ASC \aset
BEGIN;
SET LOCAL lock_timeout = '0s';
LOCK TABLE ledger_events IN EXCLUSIVE MODE;
NOTIFY ledger_events;
INSERT INTO ledger_events AS t (originator_id, originator_version, topic, state) SELECT originator_id, originator_version, topic, state FROM unnest(ARRAY[ROW(lpad(to_hex(:client_id * 1000000 + :stream), 32, '0')::uuid, :last_version + 1, :topic, decode('7b2274696d657374616d70223a22323032362d31312d32355432303a31343a30332e3436313132355a222c226163746f725f726f6c65223a22696e7374727563746f72222c22707265765f68617368223a2230303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030222c2268617368223a2263663365663863646665316137306234663462363937343333663165393734393862613463363436613538633938353232633230336664626534396237333764222c226c6963656e73655f6964223a313233342c22736b696c6c5f6e616d65223a2262616c6c5f636f6e74726f6c222c226173736573736d656e745f6964223a2230643637393535352d383437342d343830382d386635332d636565303265323861643032222c22706f696e74735f6561726e6564223a372c22706f696e74735f746f74616c223a31302c226e6f746573223a22476f6f6420666972737420746f75636820756e6465722070726573737572653b206b656570207468652068656164207570207768656e20726563656976696e672e222c2261737365737365645f6279223a31372c2272657175697265735f76616c69646174696f6e223a747275652c227265706c61636573223a6e756c6c7d', 'hex'))]::stored_event_uuid[]) RETURNING notification_id;
COMMIT;
