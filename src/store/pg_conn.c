/*
 * pg_conn.c - PostgreSQL connections, their statements and the schema.
 *
 * Every SQL statement of the PostgreSQL backend is in the table below,
 * indexed by pgc_stmt_id; a connection prepares a statement (PQprepare,
 * named "fsN") the first time it runs there and executes it with
 * PQexecPrepared, values as parameters: text, or binary for bytea.
 * Filters with optional parts are single statements too: an absent value
 * is a NULL parameter and "($n IS NULL OR col=$n)" lets it through.
 *
 * The pool opens up to `size` connections on demand and lends each to one
 * caller at a time (a mutex and a condition variable: callers wait for a
 * free connection rather than open more).  pgc_run() wraps the caller's
 * function in a transaction when asked:
 *
 *   checkout -> [BEGIN] -> fn -> [COMMIT | ROLLBACK] -> checkin
 *        ^                  |  deadlock / serialization failure:
 *        +------------------+  again, after a short random pause
 *        +------------------+  connection lost before COMMIT: again once,
 *                              on a fresh connection
 *
 * A lost connection (server restart, network) is logged once, bumps the
 * pool's generation so every idle connection is re-opened before its next
 * use, and the call returns FS_EIO when it cannot be replayed (COMMIT was
 * in flight: its outcome is unknown).
 *
 * Schema migrations are an ordered list, numbered like the SQLite ones
 * (sqlite_conn.c) so one version means the same tables on both backends;
 * schema_migrations records those applied.  Each runs in its own
 * transaction holding pg_advisory_xact_lock(PGC_MIGRATE_LOCK), re-reading
 * the version under the lock, so processes starting together apply each
 * exactly once.  Never edit a shipped migration: append a new one.
 *
 * Text columns that are sorted or compared for order use COLLATE "C":
 * byte order, as in SQLite, whatever the database's locale.  Job states
 * are stored as their names; run and task states as enum values.
 * Documents carry a tsvector built by the backend from text.h's tokens
 * (store_pg_docs.c), with a GIN index, and documents_totals keeps the
 * document and token counts BM25 needs (a trigger maintains them).
 */
#include "store/pg_conn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/xmem.h"

#define JOB_COLS PGC_JOB_COLS
#define AGENT_COLS PGC_AGENT_COLS

/* The conditions of store_doc_filter over documents, parameters $1-$10
 * (store_pg_docs.c binds them in this order). */
#define DOC_FILTER                                                           \
    "($1::boolean OR parent_id IS NULL)"                                     \
    " AND ($2::text IS NULL OR agent=$2)"                                    \
    " AND ($3::text IS NULL OR kind=$3)"                                     \
    " AND ($4::text[] IS NULL OR tags::jsonb ?& $4::text[])"                 \
    " AND ($5::text[] IS NULL OR NOT EXISTS (SELECT 1 FROM"                  \
    "  unnest($5::text[],$6::text[]) AS m(k,v)"                              \
    "  WHERE fs_json_text(metadata::jsonb->m.k) IS DISTINCT FROM m.v))"      \
    " AND ($7::bigint IS NULL OR parent_id=$7)"                              \
    " AND ($8::bigint IS NULL OR created_at>=$8)"                            \
    " AND ($9::bigint IS NULL OR created_at<$9)"                             \
    " AND ($10::bigint IS NULL OR id<$10)"

static const char *const sql_text[PG__COUNT] = {
    [PG_BEGIN] = "BEGIN",
    [PG_BEGIN_SNAPSHOT] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    [PG_COMMIT] = "COMMIT",
    [PG_ROLLBACK] = "ROLLBACK",
    [PG_JOB_INSERT] =
        "INSERT INTO jobs(type,target_agent,payload,priority,run_at,"
        "max_attempts,timeout_ms,unique_key,state,parent_id,created_at,"
        "updated_at,run_id) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$11,"
        "$12) ON CONFLICT(unique_key) WHERE unique_key IS NOT NULL "
        "DO NOTHING RETURNING id",
    /* A batch takes its ids first, then inserts every row at once with
     * them: the ids returned say which rows were new. */
    [PG_JOB_IDS] =
        "SELECT nextval('jobs_id_seq') FROM generate_series(1,$1::integer)",
    [PG_JOB_INSERT_MANY] =
        "INSERT INTO jobs(id,type,target_agent,payload,priority,run_at,"
        "max_attempts,timeout_ms,unique_key,state,parent_id,run_id,"
        "created_at,updated_at) SELECT u.*,$13::bigint,$13::bigint FROM "
        "unnest($1::bigint[],$2::text[],$3::text[],$4::text[],$5::integer[],"
        "$6::bigint[],$7::integer[],$8::bigint[],$9::text[],$10::text[],"
        "$11::bigint[],$12::bigint[]) AS u ON CONFLICT(unique_key) WHERE "
        "unique_key IS NOT NULL DO NOTHING RETURNING id",
    [PG_JOB_BY_KEY] = "SELECT " JOB_COLS " FROM jobs WHERE unique_key=$1",
    [PG_JOB_BY_KEYS] = "SELECT " JOB_COLS " FROM jobs "
                       "WHERE unique_key=ANY($1::text[])",
    [PG_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id=$1",
    [PG_JOB_STATE] = "SELECT state FROM jobs WHERE id=$1",
    [PG_JOB_LIST] =
        "SELECT " JOB_COLS " FROM jobs WHERE ($1::text IS NULL OR state=$1)"
        " AND ($2::text IS NULL OR type=$2)"
        " AND ($3::text IS NULL OR target_agent=$3)"
        " AND ($4::bigint IS NULL OR parent_id=$4)"
        " AND ($5::bigint IS NULL OR id<$5) ORDER BY id DESC LIMIT $6",
    /* Rows another promoter holds are skipped: it promotes them. */
    [PG_JOB_PROMOTE] =
        "UPDATE jobs SET state='pending',updated_at=$1 WHERE id IN (SELECT "
        "id FROM jobs WHERE state='scheduled' AND run_at<=$1 "
        "FOR UPDATE SKIP LOCKED)",
    /* One statement claims a batch: the best $2 ready jobs targeted at the
     * agent's type ($1) or its id ($5), optionally only of the types in
     * $6; rows another leaser holds are skipped, not waited for.  Each
     * branch walks jobs_ready in lease order. */
    [PG_JOB_LEASE] =
        "WITH a AS (SELECT id,priority,run_at FROM jobs WHERE "
        " state='pending' AND target_agent=$1 AND ($6::text[] IS NULL OR "
        " type=ANY($6::text[])) ORDER BY priority DESC,run_at,id LIMIT $2 "
        " FOR UPDATE SKIP LOCKED),"
        "b AS (SELECT id,priority,run_at FROM jobs WHERE "
        " state='pending' AND target_agent=$5 AND ($6::text[] IS NULL OR "
        " type=ANY($6::text[])) ORDER BY priority DESC,run_at,id LIMIT $2 "
        " FOR UPDATE SKIP LOCKED),"
        "pick AS (SELECT id AS pid FROM (SELECT * FROM a UNION ALL "
        " SELECT * FROM b) u ORDER BY priority DESC,run_at,id LIMIT $2) "
        "UPDATE jobs SET state='running',attempts=attempts+1,"
        "lease_token=replace(gen_random_uuid()::text,'-',''),lease_owner=$3,"
        "lease_expires=$4::bigint+CASE WHEN $7::bigint>0 THEN $7::bigint "
        "ELSE timeout_ms END,started_at=$4,updated_at=$4 FROM pick "
        "WHERE id=pick.pid RETURNING " JOB_COLS,
    [PG_JOB_HEARTBEAT] =
        "UPDATE jobs SET lease_expires=$3::bigint+CASE WHEN $4::bigint>0 "
        "THEN $4::bigint ELSE timeout_ms END,updated_at=$3 WHERE id=$1 AND "
        "state='running' AND lease_token=$2 RETURNING lease_expires",
    /* A batch ($1 ids, $2 tokens, $3 results): per job, the first item
     * holding its current lease completes it, as if the items ran one
     * after the other.  One row per item, in order: started_at, done,
     * whether the job exists. */
    [PG_JOB_COMPLETE] =
        "WITH i AS (SELECT * FROM unnest($1::bigint[],$2::text[],$3::text[])"
        " WITH ORDINALITY AS i(id,token,result,ord)),"
        "w AS (SELECT DISTINCT ON (i.id) i.id,i.ord,i.token,i.result FROM i "
        " JOIN jobs j ON j.id=i.id AND j.state='running' AND "
        " j.lease_token=i.token ORDER BY i.id,i.ord),"
        "u AS (UPDATE jobs SET state='completed',result=w.result,"
        " finished_at=$4,updated_at=$4,lease_token=NULL,lease_expires=NULL "
        " FROM w WHERE jobs.id=w.id AND jobs.state='running' AND "
        " jobs.lease_token=w.token RETURNING jobs.id,jobs.started_at) "
        "SELECT u.started_at,coalesce(u.id IS NOT NULL AND w.ord=i.ord,false),"
        "EXISTS(SELECT 1 FROM jobs x WHERE x.id=i.id) FROM i "
        "LEFT JOIN w ON w.id=i.id LEFT JOIN u ON u.id=i.id ORDER BY i.ord",
    [PG_JOB_FAIL_READ] = "SELECT state,lease_token,attempts,max_attempts "
                         "FROM jobs WHERE id=$1 FOR UPDATE",
    [PG_JOB_FAIL] =
        "UPDATE jobs SET state=$2,last_error=$3,run_at=$4,finished_at=$5,"
        "updated_at=$6,lease_token=NULL,lease_expires=NULL WHERE id=$1 "
        "RETURNING " JOB_COLS,
    [PG_JOB_CANCEL] =
        "UPDATE jobs SET state='cancelled',finished_at=$2,updated_at=$2,"
        "lease_token=NULL,lease_expires=NULL WHERE id=$1 AND state IN "
        "('pending','scheduled','running') RETURNING " JOB_COLS,
    [PG_JOB_CANCEL_MANY] =
        "UPDATE jobs SET state='cancelled',finished_at=$2,updated_at=$2,"
        "lease_token=NULL,lease_expires=NULL WHERE id=ANY($1::bigint[]) AND "
        "state IN ('pending','scheduled','running')",
    [PG_JOB_RETRY] =
        "UPDATE jobs SET state='pending',attempts=0,run_at=$2,"
        "finished_at=NULL,updated_at=$2,lease_token=NULL,lease_expires=NULL "
        "WHERE id=$1 AND state IN ('failed','cancelled') RETURNING " JOB_COLS,
    /* Safe with several rescuers: each takes the rows nobody holds. */
    [PG_JOB_RESCUE] =
        "UPDATE jobs SET state=CASE WHEN attempts>=max_attempts THEN "
        "'failed' ELSE 'pending' END,finished_at=CASE WHEN "
        "attempts>=max_attempts THEN $1::bigint END,run_at=CASE WHEN "
        "attempts>=max_attempts THEN run_at ELSE $1::bigint END,"
        "last_error='lease expired',lease_token=NULL,lease_expires=NULL,"
        "updated_at=$1 WHERE id IN (SELECT id FROM jobs WHERE "
        "state='running' AND lease_expires<$1 FOR UPDATE SKIP LOCKED)",
    [PG_JOB_PRUNE] =
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN "
        "('completed','cancelled') AND finished_at<$1 LIMIT $2 "
        "FOR UPDATE SKIP LOCKED)",
    [PG_JOB_NEXT_DUE] =
        "SELECT (SELECT min(run_at) FROM jobs WHERE state='scheduled'),"
        "(SELECT min(lease_expires) FROM jobs WHERE state='running')",
    [PG_JOB_STATS] = "SELECT type,state,count(*),min(run_at) FROM jobs "
                     "GROUP BY state,type ORDER BY type,state",
    [PG_AGENT_INSERT] =
        "INSERT INTO agents(id,name,type,job_types,metadata,token_hash,"
        "created_at,last_heartbeat) VALUES($1,$2,$3,$4,$5,$6,$7,$8)",
    [PG_AGENT_GET] = "SELECT " AGENT_COLS " FROM agents WHERE id=$1",
    [PG_AGENT_BY_TOKEN] =
        "SELECT " AGENT_COLS " FROM agents WHERE token_hash=$1",
    [PG_AGENT_LIST] = "SELECT " AGENT_COLS " FROM agents "
                      "ORDER BY created_at,id",
    [PG_AGENT_HEARTBEAT] = "UPDATE agents SET last_heartbeat="
                           "greatest(last_heartbeat,$2) WHERE id=$1",
    [PG_AGENT_VERSION] = "SELECT state_version FROM agents WHERE id=$1",
    /* Serialises state writers of one agent. */
    [PG_AGENT_LOCK] =
        "SELECT state_version FROM agents WHERE id=$1 FOR UPDATE",
    [PG_AGENT_SET_VERSION] = "UPDATE agents SET state_version=$2 WHERE id=$1",
    [PG_STATE_INSERT] = "INSERT INTO agent_states(agent_id,version,state,"
                        "created_at) VALUES($1,$2,$3,$4)",
    [PG_STATE_GET] = "SELECT agent_id,version,state,created_at FROM "
                     "agent_states WHERE agent_id=$1 AND version=$2",
    [PG_STATE_LATEST] = "SELECT agent_id,version,state,created_at FROM "
                        "agent_states WHERE agent_id=$1 "
                        "ORDER BY version DESC LIMIT 1",
    [PG_STATE_LIST] = "SELECT agent_id,version,state,created_at FROM "
                      "agent_states WHERE agent_id=$1 ORDER BY version",
    [PG_KEY_ADD] =
        "INSERT INTO api_keys(hash,name,role,created_at) VALUES($1,$2,$3,$4)",
    [PG_KEY_LOOKUP] = "SELECT role FROM api_keys WHERE hash=$1",
    [PG_KEY_COUNT] = "SELECT count(*) FROM api_keys WHERE role=$1",
    [PG_DOC_INSERT] =
        "INSERT INTO documents(parent_id,chunk_index,agent,kind,content,"
        "metadata,tags,importance,embedding,embedder,embedder_version,"
        "created_at,updated_at,tsv,ntokens) VALUES($1,$2,$3,$4,$5,$6,$7,$8,"
        "$9,$10,$11,$12,$12,$13::tsvector,$14) RETURNING id",
    [PG_DOC_GET] = "SELECT " PGC_DOC_COLS " FROM documents WHERE id=$1",
    [PG_DOC_DELETE] =
        "DELETE FROM documents WHERE id=$1 OR parent_id=$1 RETURNING id",
    [PG_DOC_LIST] = "SELECT " PGC_DOC_COLS " FROM documents WHERE "
                    DOC_FILTER " ORDER BY id DESC LIMIT $11",
    [PG_EPOCH_BUMP] = "UPDATE memory_settings SET value=(value::bigint+1)"
                      "::text WHERE key='epoch'",
    [PG_SETTING_GET] = "SELECT value FROM memory_settings WHERE key=$1",
    [PG_SETTING_INIT] = "INSERT INTO memory_settings(key,value) "
                        "VALUES($1,$2) ON CONFLICT(key) DO NOTHING",
    /* $2: the text hashes as hex; one row (index from 1, vector) a hit. */
    [PG_CACHE_GET] =
        "SELECT h.ord,c.vector FROM unnest($2::text[]) WITH ORDINALITY "
        "AS h(hex,ord) JOIN embedding_cache c ON c.embedder=$1 AND "
        "c.text_hash=decode(h.hex,'hex')",
    [PG_CACHE_PUT] =
        "INSERT INTO embedding_cache(embedder,text_hash,vector,created_at) "
        "SELECT $1,decode(u.h,'hex'),decode(u.v,'hex'),$4 FROM "
        "unnest($2::text[],$3::text[]) AS u(h,v) ON CONFLICT DO NOTHING",
    [PG_TERM_DF] = "SELECT count(*) FROM documents WHERE tsv@@$1::tsquery",
    [PG_DOC_TOTALS] = "SELECT ndocs FROM documents_totals",
    /* BM25 as FTS5 computes it (k1 1.2, b 0.75, IDF floored at 1e-6) over
     * the documents matching $14 (the query's terms OR-ed), filtered by
     * $1-$10; $12 the terms, $13 each term alone as a tsquery. */
    [PG_TEXT_SEARCH] =
        "WITH tot AS MATERIALIZED (SELECT ndocs,greatest(ntokens::float8/"
        " greatest(ndocs,1),1) AS avgdl FROM documents_totals),"
        "q AS MATERIALIZED (SELECT u.term,greatest(ln((tot.ndocs-df.n+0.5)/"
        " (df.n+0.5))::float8,1e-6) AS idf FROM unnest($12::text[],"
        " $13::tsquery[]) AS u(term,tq) CROSS JOIN tot CROSS JOIN LATERAL "
        " (SELECT count(*) AS n FROM documents x WHERE x.tsv@@u.tq) df) "
        "SELECT id,s.score FROM documents CROSS JOIN tot CROSS JOIN LATERAL "
        " (SELECT sum(q.idf*cardinality(l.positions)*2.2/"
        " (cardinality(l.positions)+1.2*(0.25+0.75*ntokens/tot.avgdl))) "
        " AS score FROM unnest(tsv) AS l JOIN q ON q.term=l.lexeme) s "
        "WHERE tsv@@$14::tsquery AND " DOC_FILTER
        " ORDER BY s.score DESC,id LIMIT $11",
    [PG_DOC_UPDATE_META] =
        "UPDATE documents SET kind=$2,agent=$3,metadata=$4,tags=$5,"
        "importance=$6,updated_at=$7 WHERE id=$1 OR parent_id=$1",
    [PG_DOC_UPDATE_CONTENT] =
        "UPDATE documents SET content=$2,embedding=$3,embedder=$4,"
        "embedder_version=$5,updated_at=$6,tsv=$7::tsvector,ntokens=$8 "
        "WHERE id=$1",
    [PG_DOC_DELETE_CHUNKS] =
        "DELETE FROM documents WHERE parent_id=$1 RETURNING id",
    [PG_WF_INSERT] = "INSERT INTO workflows(" PGC_WORKFLOW_COLS ") "
                     "VALUES($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
    [PG_WF_GET] = "SELECT " PGC_WORKFLOW_COLS " FROM workflows "
                  "WHERE name=$1 AND version=$2",
    [PG_WF_LATEST] = "SELECT " PGC_WORKFLOW_COLS " FROM workflows "
                     "WHERE name=$1 ORDER BY version DESC LIMIT 1",
    [PG_WF_LIST] = "SELECT DISTINCT ON (name) " PGC_WORKFLOW_COLS
                   " FROM workflows ORDER BY name,version DESC",
    [PG_RUN_INSERT] =
        "INSERT INTO runs(workflow,version,state,inputs,error,rev,deadline,"
        "created_at,updated_at,finished_at) VALUES($1,$2,$3,$4,$5,1,$6,$7,"
        "$7,$8) RETURNING id",
    [PG_RUN_UPDATE] =
        "UPDATE runs SET state=$3,inputs=coalesce($4,inputs),error=$5,"
        "deadline=$6,finished_at=$7,rev=rev+1,updated_at=$8 "
        "WHERE id=$1 AND rev=$2",
    [PG_RUN_GET] = "SELECT " PGC_RUN_COLS " FROM runs WHERE id=$1",
    [PG_RUN_LIST] =
        "SELECT " PGC_RUN_COLS " FROM runs WHERE ($1::text IS NULL OR "
        "workflow=$1) AND ($2::integer IS NULL OR state=$2) AND "
        "($3::bigint IS NULL OR id<$3) ORDER BY id DESC LIMIT $4",
    /* A change's tasks at once ($1 the run; no (step, item) twice). */
    [PG_TASK_UPSERT_MANY] =
        "INSERT INTO run_tasks(" PGC_TASK_COLS ") SELECT $1::bigint,u.* FROM "
        "unnest($2::integer[],$3::integer[],$4::integer[],$5::integer[],"
        "$6::bigint[],$7::integer[],$8::text[],$9::text[],$10::bigint[],"
        "$11::bigint[],$12::bigint[]) AS u ON CONFLICT(run_id,step,item) DO "
        "UPDATE SET state=EXCLUDED.state,attempts=EXCLUDED.attempts,"
        "job_id=EXCLUDED.job_id,items=EXCLUDED.items,output=EXCLUDED.output,"
        "error=EXCLUDED.error,deadline=EXCLUDED.deadline,"
        "started_at=EXCLUDED.started_at,finished_at=EXCLUDED.finished_at",
    [PG_TASK_LIST] = "SELECT " PGC_TASK_COLS " FROM run_tasks "
                     "WHERE run_id=$1 ORDER BY step,item",
    [PG_EVENT_MAX] =
        "SELECT coalesce(max(seq),0) FROM run_events WHERE run_id=$1",
    /* A change's events at once: run $1, seqs $2+1, $2+2 ... */
    [PG_EVENT_INSERT_MANY] =
        "INSERT INTO run_events(" PGC_EVENT_COLS ") SELECT $1::bigint,"
        "$2::bigint+u.ord,u.at,u.type,u.step,u.item,u.attempt,u.error,u.data "
        "FROM unnest($3::bigint[],$4::text[],$5::text[],$6::integer[],"
        "$7::integer[],$8::text[],$9::text[]) WITH ORDINALITY AS u(at,type,"
        "step,item,attempt,error,data,ord)",
    [PG_EVENT_LIST] = "SELECT " PGC_EVENT_COLS " FROM run_events "
                      "WHERE run_id=$1 AND seq>$2 ORDER BY seq LIMIT $3",
    /* Each signal with its job as it is now (columns NULL once pruned). */
    [PG_SIGNAL_LIST] =
        "SELECT " PGC_JOB_COLS_("NULL") ",sid,srun FROM (SELECT id AS sid,"
        "job_id AS sjob,run_id AS srun FROM job_signals WHERE id>$1 "
        "ORDER BY id LIMIT $2) s LEFT JOIN jobs ON jobs.id=sjob ORDER BY sid",
    [PG_SIGNAL_DELETE] = "DELETE FROM job_signals WHERE id=ANY($1::bigint[])",
    [PG_SCHED_GET] = "SELECT " PGC_SCHEDULE_COLS " FROM schedules "
                     "WHERE name=$1",
    [PG_SCHED_LOCK] = "SELECT " PGC_SCHEDULE_COLS " FROM schedules "
                      "WHERE name=$1 FOR UPDATE",
    [PG_SCHED_PUT] =
        "INSERT INTO schedules(name,cron,job,enabled,created_at,updated_at) "
        "VALUES($1,$2,$3,$4,$5,$5) ON CONFLICT(name) DO UPDATE SET "
        "cron=$2,job=$3,enabled=$4,updated_at=$5",
    [PG_SCHED_LIST] = "SELECT " PGC_SCHEDULE_COLS " FROM schedules "
                      "ORDER BY name",
    [PG_SCHED_DELETE] = "DELETE FROM schedules WHERE name=$1",
    /* Matches only a fire newer than the last one; the row lock makes a
     * second scheduler wait, then match nothing. */
    [PG_SCHED_FIRE] = "UPDATE schedules SET last_fire=$2 WHERE name=$1 AND "
                      "enabled AND coalesce(last_fire,0)<$2",
    [PG_EVO_INSERT] =
        "INSERT INTO evolution_events(type,component,description,proposed_by,"
        "status,data,rev,created_at,updated_at,applied_at) "
        "VALUES($1,$2,$3,$4,$5,$6,1,$7,$7,$8) RETURNING id",
    [PG_EVO_GET] = "SELECT " PGC_EVOLUTION_COLS " FROM evolution_events "
                   "WHERE id=$1",
    /* NULL filters match everything; $4 = 0 starts from the newest. */
    [PG_EVO_LIST] =
        "SELECT " PGC_EVOLUTION_COLS " FROM evolution_events WHERE "
        "($1::text IS NULL OR status=$1) AND ($2::text IS NULL OR type=$2) "
        "AND ($3::text IS NULL OR component=$3) AND ($4::bigint=0 OR "
        "id<$4) ORDER BY id DESC LIMIT $5",
    /* Only when nobody updated it since it was read (rev $7); the row
     * lock makes a concurrent updater wait, then match nothing. */
    [PG_CHANGE_LIST] = "SELECT seq,doc_id,deleted,origin=$3 FROM doc_changes "
                       "WHERE seq>$1 ORDER BY seq LIMIT $2",
    [PG_CHANGE_HEAD] = "SELECT coalesce(max(seq),0) FROM doc_changes",
    [PG_CHANGE_PRUNE] = "DELETE FROM doc_changes WHERE at<$1",
    [PG_EVO_UPDATE] =
        "UPDATE evolution_events SET status=$2,description=$3,data=$4,"
        "applied_at=$5,updated_at=$6,rev=rev+1 WHERE id=$1 AND rev=$7",
};

static const char *const migrations[] = {
    /* 1: jobs, agents, versioned agent state, API keys. */
    "CREATE TABLE jobs("
    " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " type text COLLATE \"C\" NOT NULL,"
    " target_agent text COLLATE \"C\" NOT NULL,"
    " payload text NOT NULL,"
    " priority integer NOT NULL DEFAULT 0,"
    " run_at bigint NOT NULL,"
    " attempts integer NOT NULL DEFAULT 0,"
    " max_attempts integer NOT NULL,"
    " timeout_ms bigint NOT NULL,"
    " unique_key text,"
    " state text COLLATE \"C\" NOT NULL,"
    " result text,"
    " last_error text,"
    " parent_id bigint,"
    " lease_token text,"
    " lease_owner text,"
    " lease_expires bigint,"
    " started_at bigint,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " finished_at bigint);"
    "CREATE UNIQUE INDEX jobs_unique_key ON jobs(unique_key)"
    " WHERE unique_key IS NOT NULL;"
    "CREATE INDEX jobs_ready ON jobs(target_agent,priority DESC,run_at,id)"
    " WHERE state='pending';"
    "CREATE INDEX jobs_scheduled ON jobs(run_at) WHERE state='scheduled';"
    "CREATE INDEX jobs_running ON jobs(lease_expires) WHERE state='running';"
    "CREATE INDEX jobs_finished ON jobs(finished_at)"
    " WHERE state IN ('completed','cancelled');"
    "CREATE INDEX jobs_parent ON jobs(parent_id) WHERE parent_id IS NOT NULL;"
    "CREATE TABLE agents("
    " id text COLLATE \"C\" PRIMARY KEY,"
    " name text NOT NULL,"
    " type text NOT NULL,"
    " job_types text NOT NULL,"
    " metadata text NOT NULL,"
    " token_hash text NOT NULL UNIQUE,"
    " created_at bigint NOT NULL,"
    " last_heartbeat bigint NOT NULL,"
    " state_version bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE agent_states("
    " agent_id text COLLATE \"C\" NOT NULL REFERENCES agents(id),"
    " version bigint NOT NULL,"
    " state text NOT NULL,"
    " created_at bigint NOT NULL,"
    " PRIMARY KEY(agent_id,version));"
    "CREATE TABLE api_keys("
    " hash text PRIMARY KEY,"
    " name text NOT NULL,"
    " role text NOT NULL,"
    " created_at bigint NOT NULL);",
    /* 2: memory documents (chunks point at their parent) and settings;
     * metadata and tags are JSON kept as text (byte for byte), read as
     * jsonb by filters.  fs_json_text gives a JSON value the text form
     * SQLite's json_extract has: strings bare, true/false as 1/0. */
    "CREATE TABLE documents("
    " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " parent_id bigint REFERENCES documents(id),"
    " chunk_index integer,"
    " agent text,"
    " kind text,"
    " content text NOT NULL,"
    " metadata text NOT NULL,"
    " tags text NOT NULL,"
    " importance double precision NOT NULL,"
    " embedding bytea,"
    " embedder text,"
    " embedder_version text,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL);"
    "CREATE INDEX documents_parent ON documents(parent_id)"
    " WHERE parent_id IS NOT NULL;"
    "CREATE INDEX documents_agent ON documents(agent,id);"
    "CREATE INDEX documents_kind ON documents(kind,id);"
    "CREATE INDEX documents_created ON documents(created_at);"
    "CREATE TABLE memory_settings("
    " key text PRIMARY KEY,"
    " value text NOT NULL);"
    "INSERT INTO memory_settings VALUES('epoch','0');"
    "CREATE FUNCTION fs_json_text(v jsonb) RETURNS text LANGUAGE sql"
    " IMMUTABLE AS $$ SELECT CASE jsonb_typeof(v)"
    " WHEN 'string' THEN v#>>'{}'"
    " WHEN 'boolean' THEN CASE WHEN v::boolean THEN '1' ELSE '0' END"
    " WHEN 'null' THEN NULL ELSE v::text END $$;",
    /* 3: BM25 over document content: tsv holds the stemmed terms of
     * text.h with their positions, ntokens the token count; the totals
     * (documents, tokens) follow every insert, delete and re-index. */
    "ALTER TABLE documents ADD COLUMN tsv tsvector NOT NULL DEFAULT '',"
    " ADD COLUMN ntokens integer NOT NULL DEFAULT 0;"
    "CREATE INDEX documents_tsv ON documents USING gin(tsv);"
    "CREATE TABLE documents_totals("
    " one boolean PRIMARY KEY DEFAULT true CHECK(one),"
    " ndocs bigint NOT NULL,"
    " ntokens bigint NOT NULL);"
    "INSERT INTO documents_totals VALUES(true,0,0);"
    "CREATE FUNCTION documents_count() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF TG_OP='INSERT' THEN UPDATE documents_totals"
    "   SET ndocs=ndocs+1,ntokens=ntokens+NEW.ntokens;"
    "  ELSIF TG_OP='DELETE' THEN UPDATE documents_totals"
    "   SET ndocs=ndocs-1,ntokens=ntokens-OLD.ntokens;"
    "  ELSE UPDATE documents_totals SET ntokens=ntokens-OLD.ntokens+"
    "   NEW.ntokens;"
    "  END IF;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER documents_count AFTER INSERT OR DELETE OR UPDATE OF"
    " ntokens ON documents FOR EACH ROW EXECUTE FUNCTION documents_count();",
    /* 4: embedding cache: (embedder name:version, SHA-256 of the text). */
    "CREATE TABLE embedding_cache("
    " embedder text NOT NULL,"
    " text_hash bytea NOT NULL,"
    " vector bytea NOT NULL,"
    " created_at bigint NOT NULL,"
    " PRIMARY KEY(embedder,text_hash));",
    /* 5: workflow definitions, runs with their tasks and events, and the
     * job signals: every state change of a job that belongs to a run is
     * recorded by a trigger in the transaction making it, for the engine
     * (as SQLite's jobs_signal). */
    "ALTER TABLE jobs ADD COLUMN run_id bigint;"
    "CREATE INDEX jobs_run ON jobs(run_id) WHERE run_id IS NOT NULL;"
    "CREATE TABLE workflows("
    " name text COLLATE \"C\" NOT NULL,"
    " version integer NOT NULL,"
    " description text,"
    " definition text NOT NULL,"
    " created_at bigint NOT NULL,"
    " PRIMARY KEY(name,version));"
    "CREATE TABLE runs("
    " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " workflow text COLLATE \"C\" NOT NULL,"
    " version integer NOT NULL,"
    " state integer NOT NULL,"
    " inputs text NOT NULL,"
    " error text,"
    " rev bigint NOT NULL,"
    " deadline bigint,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " finished_at bigint);"
    "CREATE INDEX runs_workflow ON runs(workflow,id);"
    "CREATE INDEX runs_state ON runs(state,id);"
    "CREATE TABLE run_tasks("
    " run_id bigint NOT NULL,"
    " step integer NOT NULL,"
    " item integer NOT NULL,"
    " state integer NOT NULL,"
    " attempts integer NOT NULL,"
    " job_id bigint,"
    " items integer NOT NULL,"
    " output text,"
    " error text,"
    " deadline bigint,"
    " started_at bigint,"
    " finished_at bigint,"
    " PRIMARY KEY(run_id,step,item));"
    "CREATE TABLE run_events("
    " run_id bigint NOT NULL,"
    " seq bigint NOT NULL,"
    " at bigint NOT NULL,"
    " type text NOT NULL,"
    " step text,"
    " item integer NOT NULL,"
    " attempt integer NOT NULL,"
    " error text,"
    " data text,"
    " PRIMARY KEY(run_id,seq));"
    "CREATE TABLE job_signals("
    " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " job_id bigint NOT NULL,"
    " run_id bigint NOT NULL);"
    "CREATE FUNCTION jobs_signal() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  INSERT INTO job_signals(job_id,run_id) VALUES(NEW.id,NEW.run_id);"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER jobs_signal AFTER UPDATE OF state ON jobs FOR EACH ROW"
    " WHEN (NEW.run_id IS NOT NULL AND NEW.state IS DISTINCT FROM OLD.state)"
    " EXECUTE FUNCTION jobs_signal();",
    /* 6: schedules: periodic jobs (queue/sched.h).  job is the JSON of the
     * job each fire enqueues; last_fire the fire time last enqueued. */
    "CREATE TABLE schedules("
    " name text COLLATE \"C\" PRIMARY KEY,"
    " cron text NOT NULL,"
    " job text NOT NULL,"
    " enabled boolean NOT NULL DEFAULT true,"
    " last_fire bigint,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL);",
    /* 7: the evolution log (evolution/evolution.h); data is the JSON of
     * the change, its metrics, its monitor and its history. */
    "CREATE TABLE evolution_events("
    " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " type text NOT NULL,"
    " component text NOT NULL,"
    " description text NOT NULL,"
    " proposed_by text NOT NULL,"
    " status text NOT NULL,"
    " data text NOT NULL,"
    " rev bigint NOT NULL,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " applied_at bigint);"
    "CREATE INDEX evolution_component ON evolution_events(component,status);"
    "CREATE INDEX evolution_status ON evolution_events(status,id);",
    /* 8: doc_changes: every write of a document's vectors, so each process
     * keeps its in-memory index in step with the others' writes
     * (store.h, doc_changes), tagged with the writer's flowstate.origin.
     * The trigger takes a transaction advisory lock before its row gets a
     * seq, so seqs are handed out in commit order and a reader that saw
     * seq N never finds a smaller one committed later. */
    "CREATE TABLE doc_changes("
    " seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " doc_id bigint NOT NULL,"
    " deleted boolean NOT NULL,"
    " origin text NOT NULL,"
    " at bigint NOT NULL);"
    "CREATE INDEX doc_changes_at ON doc_changes(at);"
    "CREATE FUNCTION documents_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  PERFORM pg_advisory_xact_lock(1182821478);"
    "  INSERT INTO doc_changes(doc_id,deleted,origin,at) VALUES("
    "   CASE WHEN TG_OP='DELETE' THEN OLD.id ELSE NEW.id END, TG_OP='DELETE',"
    "   coalesce(current_setting('flowstate.origin',true),''),"
    "   (extract(epoch FROM clock_timestamp())*1000)::bigint);"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER documents_changed AFTER INSERT OR DELETE OR UPDATE OF"
    " content,embedding ON documents FOR EACH ROW"
    " EXECUTE FUNCTION documents_changed();",
    /* 9: one NOTIFY flowstate_jobs per INSERT statement on jobs, to wake
     * idle workers in every process (store_pg_listen.c); a transaction's
     * are folded into one by PostgreSQL. */
    "CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_notify('flowstate_jobs',''); RETURN NULL; END $$;"
    "CREATE TRIGGER jobs_notify AFTER INSERT ON jobs FOR EACH STATEMENT"
    " EXECUTE FUNCTION jobs_notify();",
};

/* The advisory lock key migrations hold ("Flow"). */
#define PGC_MIGRATE_LOCK 0x466c6f77

enum { RETRIES = 8 };

struct pgc {
    PGconn *conn;
    uint64_t gen;            /* the pool's generation when opened */
    bool prepared[PG__COUNT];
    bool lost;               /* the connection failed: re-open it */
    bool retry;              /* the last error asks for the tx again */
    int64_t changes;
    pgc *next;
};

struct pgc_pool {
    char *url;
    char origin[33];         /* flowstate.origin of every connection */
    int size, nopen;
    bool sync_normal;
    int busy_ms;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    pgc *idle;
    uint64_t gen;            /* bumped whenever a connection is lost */
};

/* --- parameters ------------------------------------------------------- */

/* Parameter slots are fixed by the statement table: running out is a bug
 * of this file, not an input error. */
static void check_room(const pgc_params *p)
{
    if (p->n >= PGC_MAX_PARAMS) abort();
}

static void add_param(pgc_params *p, const char *v, int len, int format)
{
    check_room(p);
    p->value[p->n] = v;
    p->len[p->n] = len;
    p->format[p->n] = format;
    p->n++;
}

void pgc_text(pgc_params *p, const char *s) { add_param(p, s, 0, 0); }

void pgc_int(pgc_params *p, int64_t v)
{
    check_room(p);
    snprintf(p->num[p->n], sizeof p->num[0], "%lld", (long long)v);
    add_param(p, p->num[p->n], 0, 0);
}

void pgc_time(pgc_params *p, int64_t v)
{
    if (v) pgc_int(p, v);
    else add_param(p, NULL, 0, 0);
}

void pgc_double(pgc_params *p, double v)
{
    check_room(p);
    snprintf(p->num[p->n], sizeof p->num[0], "%.17g", v);
    add_param(p, p->num[p->n], 0, 0);
}

void pgc_bool(pgc_params *p, bool v) { add_param(p, v ? "t" : "f", 0, 0); }

void pgc_bytes(pgc_params *p, const void *b, size_t n)
{
    add_param(p, b, b ? (int)n : 0, 1);
}

static void buf_put(fs_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void pgc_array_add(fs_buf *b, const char *s)
{
    buf_put(b, b->len ? "," : "{", 1);
    if (!s) {
        buf_put(b, "NULL", 4);
        return;
    }
    buf_put(b, "\"", 1);
    for (const char *q; (q = strpbrk(s, "\"\\")); s = q + 1) {
        buf_put(b, s, (size_t)(q - s));
        buf_put(b, "\\", 1);
        buf_put(b, q, 1);
    }
    buf_put(b, s, strlen(s));
    buf_put(b, "\"", 1);
}

void pgc_array_int(fs_buf *b, int64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%s%lld", b->len ? "," : "{",
                     (long long)v);
    buf_put(b, num, (size_t)n);
}

const char *pgc_array_end(fs_buf *b)
{
    if (b->len) buf_put(b, "}", 1);
    else buf_put(b, "{}", 2);
    return b->data;
}

/* --- errors ----------------------------------------------------------- */

static bool has_prefix(const char *s, const char *p)
{
    return s && strncmp(s, p, strlen(p)) == 0;
}

/* The first line of the primary message only: details can quote stored
 * values.  OUT: *len, its length. */
static const char *primary(const PGresult *r, const pgc *c, int *len)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!m) m = PQerrorMessage(c->conn);
    *len = (int)strcspn(m, "\n");
    return m;
}

/* Maps a failed statement's SQLSTATE to FS_E*; notes a lost connection
 * or a transaction worth running again. */
static int map_error(pgc *c, const PGresult *r, pgc_stmt_id id)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int len;
    const char *msg = primary(r, c, &len);
    if (PQstatus(c->conn) != CONNECTION_OK || !st || has_prefix(st, "08") ||
        has_prefix(st, "57P")) {
        if (!c->lost)
            log_error("store: lost the connection to PostgreSQL (%.*s); it "
                      "is re-opened on next use", len, msg);
        c->lost = true;
        return FS_EIO;
    }
    if (!strcmp(st, "23505")) return FS_ECONFLICT;
    if (has_prefix(st, "23") || has_prefix(st, "22")) {
        log_warn("store: statement %d refused: %.*s", (int)id, len, msg);
        return FS_EINVAL;
    }
    if (!strcmp(st, "40001") || !strcmp(st, "40P01")) {
        c->retry = true;
        log_debug("store: statement %d: %.*s (retried)", (int)id, len, msg);
        return FS_EBUSY;
    }
    if (!strcmp(st, "55P03") || !strcmp(st, "57014")) {
        log_warn("store: statement %d: %.*s", (int)id, len, msg);
        return FS_EBUSY;
    }
    log_error("store: statement %d: %.*s (SQLSTATE %s)", (int)id, len, msg,
              st);
    return FS_EIO;
}

/* Runs SQL text without parameters (schema, session settings). */
static int exec_plain(pgc *c, const char *sql)
{
    PGresult *r = PQexec(c->conn, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK
                 ? 0 : map_error(c, r, PG__COUNT);
    PQclear(r);
    return rc;
}

/* --- statements ------------------------------------------------------- */

static int prepare(pgc *c, pgc_stmt_id id)
{
    char name[16];
    snprintf(name, sizeof name, "fs%d", (int)id);
    PGresult *r = PQprepare(c->conn, name, sql_text[id], 0, NULL);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : map_error(c, r, id);
    PQclear(r);
    if (!rc) c->prepared[id] = true;
    return rc;
}

/* A statement's result r: its row count into c->changes and r into *res
 * (res NULL: dropped), or its error mapped (see pgc_exec). */
static int take_result(pgc *c, PGresult *r, pgc_stmt_id id, PGresult **res)
{
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        int rc = map_error(c, r, id);
        PQclear(r);
        return rc;
    }
    c->changes = strtoll(PQcmdTuples(r), NULL, 10);
    if (res) *res = r;
    else PQclear(r);
    return 0;
}

/* Statements planned for their parameters at every run instead of
 * prepared once.  The batch complete joins an array with jobs: its generic
 * plan, which PostgreSQL switches to after five runs, estimates the array
 * at 10 rows and the running jobs at 1 and so walks the whole jobs_running
 * index, dead entries of every job completed since the last vacuum
 * included - 28 ms a batch of 64 after 100,000 jobs, against 2.7 ms when
 * planned with the array in hand (primary-key lookups). */
static const bool PLAN_EACH_RUN[PG__COUNT] = { [PG_JOB_COMPLETE] = true };

int pgc_exec(pgc *c, pgc_stmt_id id, const pgc_params *p, PGresult **res)
{
    static const pgc_params none = { 0 };
    if (!p) p = &none;
    c->retry = false;
    if (PLAN_EACH_RUN[id]) {
        PGresult *r = PQexecParams(c->conn, sql_text[id], p->n, NULL, p->value,
                                   p->len, p->format, 0);
        return take_result(c, r, id, res);
    }
    if (!c->prepared[id]) {
        int rc = prepare(c, id);
        if (rc) return rc;
    }
    char name[16];
    snprintf(name, sizeof name, "fs%d", (int)id);
    PGresult *r = PQexecPrepared(c->conn, name, p->n, p->value, p->len,
                                 p->format, 0);
    return take_result(c, r, id, res);
}

int pgc_exec_sql(pgc *c, const char *sql, const pgc_params *p, PGresult **res)
{
    static const pgc_params none = { 0 };
    if (!p) p = &none;
    c->retry = false;
    PGresult *r = PQexecParams(c->conn, sql, p->n, NULL, p->value, p->len,
                               p->format, 0);
    return take_result(c, r, PG__COUNT, res);
}

int64_t pgc_changes(const pgc *c) { return c->changes; }

int pgc_collect(pgc *c, pgc_stmt_id id, const pgc_params *p, size_t size,
                pgc_row_fn *rd, void **out, size_t *n)
{
    PGresult *r;
    int rc = pgc_exec(c, id, p, &r);
    if (rc) return rc;
    int rows = PQntuples(r);
    *out = rows ? xcalloc((size_t)rows, size) : NULL;
    for (int i = 0; i < rows; i++) rd(r, i, (char *)*out + (size_t)i * size);
    *n = (size_t)rows;
    PQclear(r);
    return 0;
}

int pgc_one(pgc *c, pgc_stmt_id id, const pgc_params *p, PGresult **res)
{
    PGresult *r;
    int rc = pgc_exec(c, id, p, &r);
    if (rc) return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return FS_ENOTFOUND;
    }
    *res = r;
    return 0;
}

/* --- the pool --------------------------------------------------------- */

/* Server notices (warnings) go to the log, not to stderr raw. */
static void notice(void *arg, const char *msg)
{
    (void)arg;
    log_warn("store: PostgreSQL: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* (Re)opens c's connection with the session settings.  0 or FS_EIO. */
static int conn_open(pgc_pool *p, pgc *c, uint64_t gen)
{
    if (c->conn) PQfinish(c->conn);
    memset(c->prepared, 0, sizeof c->prepared);
    c->lost = false;
    c->gen = gen;
    /* Defaults the URL may override: dbname comes last and is expanded.
     * TCP keepalives find a server gone from the network (a crashed host,
     * a partition) within a minute rather than the system's two hours. */
    static const char *const keys[] = { "connect_timeout", "application_name",
                                        "keepalives_idle", "keepalives_interval",
                                        "keepalives_count", "dbname", NULL };
    const char *values[] = { "10", "flowstate", "30", "10", "3", p->url, NULL };
    c->conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c->conn) != CONNECTION_OK) {
        /* The URL is not logged: it may hold a password. */
        log_error("store: cannot connect to PostgreSQL: %.*s",
                  (int)strcspn(PQerrorMessage(c->conn), "\n"),
                  PQerrorMessage(c->conn));
        c->lost = true;
        return FS_EIO;
    }
    PQsetNoticeProcessor(c->conn, notice, NULL);
    char set[256];
    snprintf(set, sizeof set,
             "SET client_min_messages=warning;SET lock_timeout=%d;"
             "SET synchronous_commit=%s;SET flowstate.origin='%s'",
             p->busy_ms, p->sync_normal ? "off" : "on", p->origin);
    return exec_plain(c, set);
}

/* Takes an idle connection (or opens one while fewer than size are
 * open), re-opened first if it was lost or predates a loss elsewhere. */
static int checkout(pgc_pool *p, pgc **out)
{
    pthread_mutex_lock(&p->lock);
    while (!p->idle && p->nopen >= p->size)
        pthread_cond_wait(&p->freed, &p->lock);
    pgc *c = p->idle;
    if (c) p->idle = c->next;
    else {
        p->nopen++;
        c = xcalloc(1, sizeof *c);
    }
    uint64_t gen = p->gen;
    pthread_mutex_unlock(&p->lock);
    c->next = NULL;
    if (c->conn && !c->lost && c->gen == gen &&
        PQstatus(c->conn) == CONNECTION_OK) {
        *out = c;
        return 0;
    }
    if (conn_open(p, c, gen)) {
        pthread_mutex_lock(&p->lock);
        c->next = p->idle;
        p->idle = c;
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->lock);
        return FS_EIO;
    }
    *out = c;
    return 0;
}

static void checkin(pgc_pool *p, pgc *c)
{
    pthread_mutex_lock(&p->lock);
    if (c->lost && c->gen == p->gen) p->gen++; /* check the others too */
    c->next = p->idle;
    p->idle = c;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

int pgc_pool_open(pgc_pool **out, const char *url, int size,
                  bool sync_normal, int busy_ms)
{
    pgc_pool *p = xcalloc(1, sizeof *p);
    p->url = xstrdup(url);
    p->size = size > 0 ? size : 1;
    p->sync_normal = sync_normal;
    p->busy_ms = busy_ms;
    fs_random_hex(p->origin, 16); /* hex only: safe inside the SET */
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    pgc *c;
    if (checkout(p, &c)) {
        pgc_pool_close(p);
        return FS_EIO;
    }
    checkin(p, c);
    *out = p;
    return 0;
}

const char *pgc_pool_origin(const pgc_pool *p) { return p->origin; }

void pgc_pool_close(pgc_pool *p)
{
    if (!p) return;
    for (pgc *c = p->idle, *next; c; c = next) {
        next = c->next;
        if (c->conn) PQfinish(c->conn);
        free(c);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p->url);
    free(p);
}

/* --- transactions ----------------------------------------------------- */

/* One attempt.  OUT: *committing, COMMIT was sent (its outcome may be
 * unknown if the connection then failed). */
static int run_once(pgc *c, pgc_mode mode, pgc_fn *fn, void *arg,
                    bool *committing)
{
    if (mode == PGC_READ) return fn(c, arg);
    int rc = pgc_exec(c, mode == PGC_WRITE ? PG_BEGIN : PG_BEGIN_SNAPSHOT,
                      NULL, NULL);
    if (rc) return rc;
    rc = fn(c, arg);
    if (rc || mode == PGC_SNAPSHOT) {
        bool retry = c->retry;
        if (!c->lost) pgc_exec(c, PG_ROLLBACK, NULL, NULL);
        c->retry = retry;
        return rc;
    }
    *committing = true;
    return pgc_exec(c, PG_COMMIT, NULL, NULL);
}

/* A random pause of up to 2^attempt ms before running a transaction
 * again, so two that deadlocked do not collide once more. */
static void pause_before_retry(int attempt)
{
    long ms = 1 + (long)(fs_rand01() * (double)(1L << attempt));
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int pgc_run(pgc_pool *p, pgc_mode mode, pgc_fn *fn, void *arg)
{
    for (int attempt = 0;; attempt++) {
        pgc *c;
        int rc = checkout(p, &c);
        if (rc) return rc;
        bool committing = false;
        rc = run_once(c, mode, fn, arg, &committing);
        bool lost = c->lost;
        bool again = rc && ((c->retry && attempt < RETRIES) ||
                            (lost && !committing && attempt == 0));
        if (rc && lost && committing)
            log_error("store: the connection was lost during COMMIT: the "
                      "write may or may not have been stored");
        checkin(p, c);
        if (!again) return rc;
        if (!lost) pause_before_retry(attempt);
    }
}

/* --- fields and rows -------------------------------------------------- */

bool pgc_is_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

char *pgc_get_text(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return NULL;
    return xstrndup(PQgetvalue(r, row, col),
                    (size_t)PQgetlength(r, row, col));
}

int64_t pgc_get_int(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double pgc_get_double(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return 0;
    return strtod(PQgetvalue(r, row, col), NULL);
}

bool pgc_get_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

void pgc_get_bytes(const PGresult *r, int row, int col, void **out,
                   size_t *n)
{
    *out = NULL;
    *n = 0;
    if (PQgetisnull(r, row, col)) return;
    size_t len;
    unsigned char *b = PQunescapeBytea(
        (const unsigned char *)PQgetvalue(r, row, col), &len);
    if (!b) abort(); /* out of memory, decided as xmalloc does */
    *out = xmalloc(len ? len : 1);
    memcpy(*out, b, len);
    *n = len;
    PQfreemem(b);
}

void pgc_read_job(const PGresult *r, int row, int col, fs_job *j)
{
    memset(j, 0, sizeof *j);
    j->id = pgc_get_int(r, row, col + 0);
    j->type = pgc_get_text(r, row, col + 1);
    j->target_agent = pgc_get_text(r, row, col + 2);
    j->payload = pgc_get_text(r, row, col + 3);
    j->priority = (int)pgc_get_int(r, row, col + 4);
    j->run_at = pgc_get_int(r, row, col + 5);
    j->attempts = (int)pgc_get_int(r, row, col + 6);
    j->max_attempts = (int)pgc_get_int(r, row, col + 7);
    j->timeout_ms = pgc_get_int(r, row, col + 8);
    j->unique_key = pgc_get_text(r, row, col + 9);
    const char *st = PQgetisnull(r, row, col + 10)
                         ? NULL : PQgetvalue(r, row, col + 10);
    if (!st || !job_state_parse(st, &j->state)) j->state = JOB_FAILED;
    j->result = pgc_get_text(r, row, col + 11);
    j->last_error = pgc_get_text(r, row, col + 12);
    j->parent_id = pgc_get_int(r, row, col + 13);
    j->lease_token = pgc_get_text(r, row, col + 14);
    j->lease_owner = pgc_get_text(r, row, col + 15);
    j->lease_expires = pgc_get_int(r, row, col + 16);
    j->started_at = pgc_get_int(r, row, col + 17);
    j->created_at = pgc_get_int(r, row, col + 18);
    j->updated_at = pgc_get_int(r, row, col + 19);
    j->finished_at = pgc_get_int(r, row, col + 20);
    j->run_id = pgc_get_int(r, row, col + 21);
}

void pgc_read_agent(const PGresult *r, int row, fs_agent *a)
{
    memset(a, 0, sizeof *a);
    a->id = pgc_get_text(r, row, 0);
    a->name = pgc_get_text(r, row, 1);
    a->type = pgc_get_text(r, row, 2);
    a->job_types = pgc_get_text(r, row, 3);
    a->metadata = pgc_get_text(r, row, 4);
    a->created_at = pgc_get_int(r, row, 5);
    a->last_heartbeat = pgc_get_int(r, row, 6);
    a->state_version = pgc_get_int(r, row, 7);
}

void pgc_read_doc(const PGresult *r, int row, fs_doc *d, bool with_embedding)
{
    memset(d, 0, sizeof *d);
    d->id = pgc_get_int(r, row, 0);
    d->parent_id = pgc_get_int(r, row, 1);
    d->parent_ref = -1;
    d->chunk_index = PQgetisnull(r, row, 2) ? -1 : (int)pgc_get_int(r, row, 2);
    d->agent = pgc_get_text(r, row, 3);
    d->kind = pgc_get_text(r, row, 4);
    d->content = pgc_get_text(r, row, 5);
    d->metadata = pgc_get_text(r, row, 6);
    d->tags = pgc_get_text(r, row, 7);
    d->importance = pgc_get_double(r, row, 8);
    if (with_embedding) {
        void *b;
        size_t n;
        pgc_get_bytes(r, row, 9, &b, &n);
        if (n >= sizeof(float)) {
            d->embedding = b; /* float32 little-endian, as written */
            d->dims = n / sizeof(float);
        } else {
            free(b);
        }
    }
    d->embedder = pgc_get_text(r, row, 10);
    d->embedder_version = pgc_get_text(r, row, 11);
    d->created_at = pgc_get_int(r, row, 12);
    d->updated_at = pgc_get_int(r, row, 13);
}

void pgc_read_workflow(const PGresult *r, int row, fs_workflow *w)
{
    memset(w, 0, sizeof *w);
    w->name = pgc_get_text(r, row, 0);
    w->version = (int)pgc_get_int(r, row, 1);
    w->description = pgc_get_text(r, row, 2);
    w->definition = pgc_get_text(r, row, 3);
    w->created_at = pgc_get_int(r, row, 4);
}

void pgc_read_run(const PGresult *r, int row, fs_run *out)
{
    memset(out, 0, sizeof *out);
    out->id = pgc_get_int(r, row, 0);
    out->workflow = pgc_get_text(r, row, 1);
    out->version = (int)pgc_get_int(r, row, 2);
    out->state = (run_state)pgc_get_int(r, row, 3);
    out->inputs = pgc_get_text(r, row, 4);
    out->error = pgc_get_text(r, row, 5);
    out->rev = pgc_get_int(r, row, 6);
    out->deadline = pgc_get_int(r, row, 7);
    out->created_at = pgc_get_int(r, row, 8);
    out->updated_at = pgc_get_int(r, row, 9);
    out->finished_at = pgc_get_int(r, row, 10);
}

void pgc_read_task(const PGresult *r, int row, fs_run_task *t)
{
    memset(t, 0, sizeof *t);
    t->run_id = pgc_get_int(r, row, 0);
    t->step = (int)pgc_get_int(r, row, 1);
    t->item = (int)pgc_get_int(r, row, 2);
    t->state = (task_state)pgc_get_int(r, row, 3);
    t->attempts = (int)pgc_get_int(r, row, 4);
    t->job_id = pgc_get_int(r, row, 5);
    t->job_ref = -1;
    t->items = (int)pgc_get_int(r, row, 6);
    t->output = pgc_get_text(r, row, 7);
    t->error = pgc_get_text(r, row, 8);
    t->deadline = pgc_get_int(r, row, 9);
    t->started_at = pgc_get_int(r, row, 10);
    t->finished_at = pgc_get_int(r, row, 11);
}

void pgc_read_event(const PGresult *r, int row, fs_run_event *e)
{
    memset(e, 0, sizeof *e);
    e->run_id = pgc_get_int(r, row, 0);
    e->seq = pgc_get_int(r, row, 1);
    e->at = pgc_get_int(r, row, 2);
    e->type = pgc_get_text(r, row, 3);
    e->step = pgc_get_text(r, row, 4);
    e->item = (int)pgc_get_int(r, row, 5);
    e->attempt = (int)pgc_get_int(r, row, 6);
    e->error = pgc_get_text(r, row, 7);
    e->data = pgc_get_text(r, row, 8);
}

void pgc_read_schedule(const PGresult *r, int row, fs_schedule *out)
{
    memset(out, 0, sizeof *out);
    out->name = pgc_get_text(r, row, 0);
    out->cron = pgc_get_text(r, row, 1);
    out->job = pgc_get_text(r, row, 2);
    out->enabled = pgc_get_bool(r, row, 3);
    out->last_fire = pgc_get_int(r, row, 4);
    out->created_at = pgc_get_int(r, row, 5);
    out->updated_at = pgc_get_int(r, row, 6);
}

void pgc_read_evolution(const PGresult *r, int row, fs_evolution *out)
{
    memset(out, 0, sizeof *out);
    out->id = pgc_get_int(r, row, 0);
    out->type = pgc_get_text(r, row, 1);
    out->component = pgc_get_text(r, row, 2);
    out->description = pgc_get_text(r, row, 3);
    out->proposed_by = pgc_get_text(r, row, 4);
    out->status = pgc_get_text(r, row, 5);
    out->data = pgc_get_text(r, row, 6);
    out->rev = pgc_get_int(r, row, 7);
    out->created_at = pgc_get_int(r, row, 8);
    out->updated_at = pgc_get_int(r, row, 9);
    out->applied_at = pgc_get_int(r, row, 10);
}

/* --- migrations ------------------------------------------------------- */

typedef struct migrate_arg {
    int64_t now;
    int64_t applied; /* OUT: the version applied, 0 = none was pending */
} migrate_arg;

/* Reads the version under the advisory lock; applies the next one. */
static int migrate_next(pgc *c, void *arg)
{
    migrate_arg *m = arg;
    m->applied = 0;
    char lock[80];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%d)",
             PGC_MIGRATE_LOCK);
    int rc = exec_plain(c, lock);
    if (!rc) rc = exec_plain(c, "CREATE TABLE IF NOT EXISTS schema_migrations("
                                "version bigint PRIMARY KEY,"
                                "applied_at bigint NOT NULL)");
    if (rc) return rc;
    PGresult *r = PQexec(c->conn, "SELECT coalesce(max(version),0) "
                                  "FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = map_error(c, r, PG__COUNT);
        PQclear(r);
        return rc;
    }
    int64_t have = pgc_get_int(r, 0, 0);
    PQclear(r);
    int64_t want = (int64_t)(sizeof migrations / sizeof *migrations);
    if (have > want) {
        log_error("store: database schema v%lld is newer than this binary "
                  "(v%lld)", (long long)have, (long long)want);
        return FS_EIO;
    }
    if (have == want) return 0;
    if ((rc = exec_plain(c, migrations[have]))) return rc;
    char v[32], now[32];
    snprintf(v, sizeof v, "%lld", (long long)(have + 1));
    snprintf(now, sizeof now, "%lld", (long long)m->now);
    const char *vals[2] = { v, now };
    r = PQexecParams(c->conn, "INSERT INTO schema_migrations VALUES($1,$2)",
                     2, NULL, vals, NULL, NULL, 0);
    rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : map_error(c, r, PG__COUNT);
    PQclear(r);
    if (!rc) m->applied = have + 1;
    return rc;
}

int pgc_migrate(pgc_pool *p, int64_t now)
{
    migrate_arg m = { now, 0 };
    do {
        int rc = pgc_run(p, PGC_WRITE, migrate_next, &m);
        if (rc) {
            log_error("store: PostgreSQL schema migration failed");
            return FS_EIO;
        }
        if (m.applied)
            log_info("store: applied schema migration %lld",
                     (long long)m.applied);
    } while (m.applied);
    return 0;
}
