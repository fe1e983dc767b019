/*
 * sqlite_conn.c - SQLite connections, their statements and the schema.
 *
 * Every SQL statement of the SQLite backend is in the table below, indexed
 * by sqlc_stmt_id; each connection prepares a statement the first time it
 * is used (SQLITE_PREPARE_PERSISTENT) and keeps it until close.
 *
 * Schema migrations are an ordered list; schema_migrations records the
 * versions applied.  A migration runs in its own transaction, so a crash
 * leaves either the old or the new schema, never half.  Never edit a
 * shipped migration: append a new one.
 *
 * Job states are stored as their names (job_state_name) so the database
 * reads well in the sqlite3 shell; run and task states, never queried by
 * hand, as their enum values.  Partial indexes keep each hot query
 * on a small index: ready jobs per target in lease order, scheduled jobs
 * by run_at, running jobs by lease expiry, finished jobs by finish time.
 */
#include "store/sqlite_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rand.h"
#include "store/sqlite_fts.h"
#include "core/xmem.h"

#define JOB_COLS SQLC_JOB_COLS
#define AGENT_COLS SQLC_AGENT_COLS

static const char *const sql_text[SQ__COUNT] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT op",
    [SQ_RELEASE] = "RELEASE op",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO op",
    [SQ_JOB_INSERT] =
        "INSERT INTO jobs(type,target_agent,payload,priority,run_at,"
        "max_attempts,timeout_ms,unique_key,state,parent_id,created_at,"
        "updated_at,run_id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?11,"
        "?12) "
        "ON CONFLICT(unique_key) WHERE unique_key IS NOT NULL DO NOTHING "
        "RETURNING id",
    [SQ_JOB_BY_KEY] = "SELECT " JOB_COLS " FROM jobs WHERE unique_key=?1",
    [SQ_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id=?1",
    [SQ_JOB_STATE] = "SELECT state FROM jobs WHERE id=?1",
    [SQ_JOB_PROMOTE] = "UPDATE jobs SET state='pending',updated_at=?1 "
                       "WHERE state='scheduled' AND run_at<=?1",
    /* One statement leases a batch: the best max ready jobs targeted at
     * the agent's type (?1) or its id (?5), optionally only of the types
     * in the JSON array ?6; fs_token() mints each lease token. */
    [SQ_JOB_LEASE] =
        "UPDATE jobs SET state='running',attempts=attempts+1,"
        "lease_token=fs_token(),lease_owner=?3,lease_expires=?4+CASE WHEN "
        "?7>0 THEN ?7 ELSE timeout_ms END,started_at=?4,updated_at=?4 "
        "WHERE id IN (SELECT id FROM ("
        " SELECT * FROM (SELECT id,priority,run_at FROM jobs WHERE "
        "  state='pending' AND target_agent=?1 AND (?6 IS NULL OR type IN "
        "  (SELECT value FROM json_each(?6))) "
        "  ORDER BY priority DESC,run_at,id LIMIT ?2)"
        " UNION ALL"
        " SELECT * FROM (SELECT id,priority,run_at FROM jobs WHERE "
        "  state='pending' AND target_agent=?5 AND (?6 IS NULL OR type IN "
        "  (SELECT value FROM json_each(?6))) "
        "  ORDER BY priority DESC,run_at,id LIMIT ?2)"
        ") ORDER BY priority DESC,run_at,id LIMIT ?2) RETURNING " JOB_COLS,
    [SQ_JOB_HEARTBEAT] =
        "UPDATE jobs SET lease_expires=?3+CASE WHEN ?4>0 THEN ?4 ELSE "
        "timeout_ms END,updated_at=?3 WHERE id=?1 AND state='running' AND "
        "lease_token=?2 RETURNING lease_expires",
    [SQ_JOB_COMPLETE] =
        "UPDATE jobs SET state='completed',result=?3,finished_at=?4,"
        "updated_at=?4,lease_token=NULL,lease_expires=NULL WHERE id=?1 AND "
        "state='running' AND lease_token=?2 RETURNING started_at",
    [SQ_JOB_FAIL_READ] = "SELECT state,lease_token,attempts,max_attempts "
                         "FROM jobs WHERE id=?1",
    [SQ_JOB_FAIL] =
        "UPDATE jobs SET state=?2,last_error=?3,run_at=?4,finished_at=?5,"
        "updated_at=?6,lease_token=NULL,lease_expires=NULL WHERE id=?1 "
        "RETURNING " JOB_COLS,
    [SQ_JOB_CANCEL] =
        "UPDATE jobs SET state='cancelled',finished_at=?2,updated_at=?2,"
        "lease_token=NULL,lease_expires=NULL WHERE id=?1 AND state IN "
        "('pending','scheduled','running') RETURNING " JOB_COLS,
    [SQ_JOB_RETRY] =
        "UPDATE jobs SET state='pending',attempts=0,run_at=?2,"
        "finished_at=NULL,updated_at=?2,lease_token=NULL,lease_expires=NULL "
        "WHERE id=?1 AND state IN ('failed','cancelled') RETURNING " JOB_COLS,
    [SQ_JOB_RESCUE] =
        "UPDATE jobs SET state=CASE WHEN attempts>=max_attempts THEN 'failed' "
        "ELSE 'pending' END,finished_at=CASE WHEN attempts>=max_attempts "
        "THEN ?1 END,run_at=CASE WHEN attempts>=max_attempts THEN run_at "
        "ELSE ?1 END,last_error='lease expired',lease_token=NULL,"
        "lease_expires=NULL,updated_at=?1 "
        "WHERE state='running' AND lease_expires<?1",
    [SQ_JOB_PRUNE] =
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN "
        "('completed','cancelled') AND finished_at<?1 LIMIT ?2)",
    [SQ_JOB_NEXT_RUN] = "SELECT min(run_at) FROM jobs WHERE state='scheduled'",
    [SQ_JOB_NEXT_EXPIRY] =
        "SELECT min(lease_expires) FROM jobs WHERE state='running'",
    [SQ_JOB_STATS] = "SELECT type,state,count(*),min(run_at) FROM jobs "
                     "GROUP BY state,type ORDER BY type,state",
    [SQ_AGENT_INSERT] =
        "INSERT INTO agents(id,name,type,job_types,metadata,token_hash,"
        "created_at,last_heartbeat) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [SQ_AGENT_GET] = "SELECT " AGENT_COLS " FROM agents WHERE id=?1",
    [SQ_AGENT_BY_TOKEN] =
        "SELECT " AGENT_COLS " FROM agents WHERE token_hash=?1",
    [SQ_AGENT_LIST] = "SELECT " AGENT_COLS " FROM agents ORDER BY created_at,id",
    [SQ_AGENT_HEARTBEAT] =
        "UPDATE agents SET last_heartbeat=max(last_heartbeat,?2) WHERE id=?1",
    [SQ_AGENT_VERSION] = "SELECT state_version FROM agents WHERE id=?1",
    [SQ_AGENT_SET_VERSION] = "UPDATE agents SET state_version=?2 WHERE id=?1",
    [SQ_STATE_INSERT] = "INSERT INTO agent_states(agent_id,version,state,"
                        "created_at) VALUES(?1,?2,?3,?4)",
    [SQ_STATE_GET] = "SELECT agent_id,version,state,created_at FROM "
                     "agent_states WHERE agent_id=?1 AND version=?2",
    [SQ_STATE_LATEST] = "SELECT agent_id,version,state,created_at FROM "
                        "agent_states WHERE agent_id=?1 "
                        "ORDER BY version DESC LIMIT 1",
    [SQ_STATE_LIST] = "SELECT agent_id,version,state,created_at FROM "
                      "agent_states WHERE agent_id=?1 ORDER BY version",
    [SQ_KEY_ADD] =
        "INSERT INTO api_keys(hash,name,role,created_at) VALUES(?1,?2,?3,?4)",
    [SQ_KEY_LOOKUP] = "SELECT role FROM api_keys WHERE hash=?1",
    [SQ_KEY_COUNT] = "SELECT count(*) FROM api_keys WHERE role=?1",
    [SQ_DOC_INSERT] =
        "INSERT INTO documents(parent_id,chunk_index,agent,kind,content,"
        "metadata,tags,importance,embedding,embedder,embedder_version,"
        "created_at,updated_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,"
        "?12,?12) RETURNING id",
    [SQ_DOC_GET] = "SELECT " SQLC_DOC_COLS " FROM documents WHERE id=?1",
    [SQ_DOC_FAMILY] = "SELECT id FROM documents WHERE id=?1 OR parent_id=?1",
    [SQ_DOC_DELETE] = "DELETE FROM documents WHERE id=?1 OR parent_id=?1",
    [SQ_EPOCH_BUMP] = "UPDATE memory_settings SET value=CAST(value AS "
                      "INTEGER)+1 WHERE key='epoch'",
    [SQ_SETTING_GET] = "SELECT value FROM memory_settings WHERE key=?1",
    [SQ_CACHE_GET] = "SELECT vector FROM embedding_cache WHERE embedder=?1 "
                     "AND text_hash=?2",
    [SQ_CACHE_PUT] = "INSERT INTO embedding_cache VALUES(?1,?2,?3,?4) "
                     "ON CONFLICT DO NOTHING",
    [SQ_DOC_UPDATE_META] =
        "UPDATE documents SET kind=?2,agent=?3,metadata=?4,tags=?5,"
        "importance=?6,updated_at=?7 WHERE id=?1 OR parent_id=?1",
    [SQ_DOC_UPDATE_CONTENT] =
        "UPDATE documents SET content=?2,embedding=?3,embedder=?4,"
        "embedder_version=?5,updated_at=?6 WHERE id=?1",
    [SQ_DOC_CHUNKS] = "SELECT id FROM documents WHERE parent_id=?1",
    [SQ_DOC_DELETE_CHUNKS] = "DELETE FROM documents WHERE parent_id=?1",
    [SQ_TERM_DF] = "SELECT doc FROM documents_vocab WHERE term=?1",
    [SQ_DOC_COUNT] = "SELECT count(*) FROM documents",
    [SQ_SETTING_INIT] = "INSERT INTO memory_settings(key,value) VALUES(?1,?2) "
                        "ON CONFLICT(key) DO NOTHING",
    [SQ_BEGIN_READ] = "BEGIN",
    [SQ_WF_INSERT] = "INSERT INTO workflows(" SQLC_WORKFLOW_COLS ") "
                     "VALUES(?1,?2,?3,?4,?5) ON CONFLICT DO NOTHING",
    [SQ_WF_GET] = "SELECT " SQLC_WORKFLOW_COLS " FROM workflows "
                  "WHERE name=?1 AND version=?2",
    [SQ_WF_LATEST] = "SELECT " SQLC_WORKFLOW_COLS " FROM workflows "
                     "WHERE name=?1 ORDER BY version DESC LIMIT 1",
    /* A bare column beside max() comes from the row holding the max. */
    [SQ_WF_LIST] = "SELECT name,max(version),description,definition,"
                   "created_at FROM workflows GROUP BY name ORDER BY name",
    [SQ_RUN_INSERT] =
        "INSERT INTO runs(workflow,version,state,inputs,error,rev,deadline,"
        "created_at,updated_at,finished_at) VALUES(?1,?2,?3,?4,?5,1,?6,?7,"
        "?7,?8) RETURNING id",
    [SQ_RUN_UPDATE] =
        "UPDATE runs SET state=?3,inputs=coalesce(?4,inputs),error=?5,"
        "deadline=?6,finished_at=?7,rev=rev+1,updated_at=?8 "
        "WHERE id=?1 AND rev=?2",
    [SQ_RUN_GET] = "SELECT " SQLC_RUN_COLS " FROM runs WHERE id=?1",
    [SQ_TASK_UPSERT] =
        "INSERT INTO run_tasks(" SQLC_TASK_COLS ") VALUES(?1,?2,?3,?4,?5,?6,"
        "?7,?8,?9,?10,?11,?12) ON CONFLICT(run_id,step,item) DO UPDATE SET "
        "state=?4,attempts=?5,job_id=?6,items=?7,output=?8,error=?9,"
        "deadline=?10,started_at=?11,finished_at=?12",
    [SQ_TASK_LIST] = "SELECT " SQLC_TASK_COLS " FROM run_tasks "
                     "WHERE run_id=?1 ORDER BY step,item",
    [SQ_EVENT_MAX] = "SELECT max(seq) FROM run_events WHERE run_id=?1",
    [SQ_EVENT_INSERT] = "INSERT INTO run_events(" SQLC_EVENT_COLS ") "
                        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    [SQ_EVENT_LIST] = "SELECT " SQLC_EVENT_COLS " FROM run_events "
                      "WHERE run_id=?1 AND seq>?2 ORDER BY seq LIMIT ?3",
    /* Each signal with its job as it is now (columns NULL once pruned). */
    [SQ_SIGNAL_LIST] =
        "SELECT " SQLC_JOB_COLS_("NULL") ",sid,srun FROM (SELECT id AS sid,"
        "job_id AS sjob,run_id AS srun FROM job_signals WHERE id>?1 "
        "ORDER BY id LIMIT ?2) LEFT JOIN jobs ON jobs.id=sjob ORDER BY sid",
    [SQ_SIGNAL_DELETE] = "DELETE FROM job_signals WHERE id=?1",
    [SQ_SCHED_GET] = "SELECT " SQLC_SCHEDULE_COLS " FROM schedules "
                     "WHERE name=?1",
    [SQ_SCHED_PUT] =
        "INSERT INTO schedules(name,cron,job,enabled,created_at,updated_at) "
        "VALUES(?1,?2,?3,?4,?5,?5) ON CONFLICT(name) DO UPDATE SET "
        "cron=?2,job=?3,enabled=?4,updated_at=?5",
    [SQ_SCHED_LIST] = "SELECT " SQLC_SCHEDULE_COLS " FROM schedules "
                      "ORDER BY name",
    [SQ_SCHED_DELETE] = "DELETE FROM schedules WHERE name=?1",
    /* Matches only a fire newer than the last one: the guard against
     * two schedulers enqueuing the same instant. */
    [SQ_SCHED_FIRE] = "UPDATE schedules SET last_fire=?2 WHERE name=?1 AND "
                      "enabled AND coalesce(last_fire,0)<?2",
    [SQ_EVO_INSERT] =
        "INSERT INTO evolution_events(type,component,description,proposed_by,"
        "status,data,rev,created_at,updated_at,applied_at) "
        "VALUES(?1,?2,?3,?4,?5,?6,1,?7,?7,?8) RETURNING id",
    [SQ_EVO_GET] = "SELECT " SQLC_EVOLUTION_COLS " FROM evolution_events "
                   "WHERE id=?1",
    /* NULL filters match everything; ?4 = 0 starts from the newest. */
    [SQ_EVO_LIST] =
        "SELECT " SQLC_EVOLUTION_COLS " FROM evolution_events WHERE "
        "(?1 IS NULL OR status=?1) AND (?2 IS NULL OR type=?2) AND "
        "(?3 IS NULL OR component=?3) AND (?4=0 OR id<?4) "
        "ORDER BY id DESC LIMIT ?5",
    [SQ_CHANGE_INSERT] = "INSERT INTO doc_changes(doc_id,deleted,origin,at) "
                         "VALUES(?1,?2,?3,?4)",
    [SQ_CHANGE_LIST] = "SELECT seq,doc_id,deleted,origin=?3 FROM doc_changes "
                       "WHERE seq>?1 ORDER BY seq LIMIT ?2",
    [SQ_CHANGE_HEAD] = "SELECT coalesce(max(seq),0) FROM doc_changes",
    [SQ_CHANGE_PRUNE] = "DELETE FROM doc_changes WHERE at<?1",
    [SQ_JOB_NEWEST] = "SELECT coalesce(max(id),0) FROM jobs",
    /* Only when nobody updated it since it was read (rev ?7). */
    [SQ_EVO_UPDATE] =
        "UPDATE evolution_events SET status=?2,description=?3,data=?4,"
        "applied_at=?5,updated_at=?6,rev=rev+1 WHERE id=?1 AND rev=?7",
};

static const char *const migrations[] = {
    /* 1: jobs, agents, versioned agent state, API keys. */
    "CREATE TABLE jobs("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " type TEXT NOT NULL,"
    " target_agent TEXT NOT NULL,"
    " payload TEXT NOT NULL,"
    " priority INTEGER NOT NULL DEFAULT 0,"
    " run_at INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " max_attempts INTEGER NOT NULL,"
    " timeout_ms INTEGER NOT NULL,"
    " unique_key TEXT,"
    " state TEXT NOT NULL,"
    " result TEXT,"
    " last_error TEXT,"
    " parent_id INTEGER,"
    " lease_token TEXT,"
    " lease_owner TEXT,"
    " lease_expires INTEGER,"
    " started_at INTEGER,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " finished_at INTEGER);"
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
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " type TEXT NOT NULL,"
    " job_types TEXT NOT NULL,"
    " metadata TEXT NOT NULL,"
    " token_hash TEXT NOT NULL UNIQUE,"
    " created_at INTEGER NOT NULL,"
    " last_heartbeat INTEGER NOT NULL,"
    " state_version INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE agent_states("
    " agent_id TEXT NOT NULL REFERENCES agents(id),"
    " version INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY(agent_id,version)) WITHOUT ROWID;"
    "CREATE TABLE api_keys("
    " hash TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " created_at INTEGER NOT NULL);",
    /* 2: memory documents (chunks point at their parent) and settings. */
    "CREATE TABLE documents("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " parent_id INTEGER REFERENCES documents(id),"
    " chunk_index INTEGER,"
    " agent TEXT,"
    " kind TEXT,"
    " content TEXT NOT NULL,"
    " metadata TEXT NOT NULL,"
    " tags TEXT NOT NULL,"
    " importance REAL NOT NULL,"
    " embedding BLOB,"
    " embedder TEXT,"
    " embedder_version TEXT,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX documents_parent ON documents(parent_id)"
    " WHERE parent_id IS NOT NULL;"
    "CREATE INDEX documents_agent ON documents(agent,id);"
    "CREATE INDEX documents_kind ON documents(kind,id);"
    "CREATE INDEX documents_created ON documents(created_at);"
    "CREATE TABLE memory_settings("
    " key TEXT PRIMARY KEY,"
    " value TEXT NOT NULL);"
    "INSERT INTO memory_settings VALUES('epoch','0');",
    /* 3: BM25 over document content with the shared tokeniser; the vocab
     * table gives each term's document frequency (IDF for embed_local). */
    "CREATE VIRTUAL TABLE documents_fts USING fts5(content,"
    " content='documents', content_rowid='id', tokenize='flowstate');"
    "CREATE VIRTUAL TABLE documents_vocab USING fts5vocab(documents_fts,row);"
    "CREATE TRIGGER documents_fts_ai AFTER INSERT ON documents BEGIN"
    " INSERT INTO documents_fts(rowid,content) VALUES(new.id,new.content);"
    " END;"
    "CREATE TRIGGER documents_fts_ad AFTER DELETE ON documents BEGIN"
    " INSERT INTO documents_fts(documents_fts,rowid,content)"
    " VALUES('delete',old.id,old.content); END;"
    "CREATE TRIGGER documents_fts_au AFTER UPDATE OF content ON documents"
    " BEGIN INSERT INTO documents_fts(documents_fts,rowid,content)"
    " VALUES('delete',old.id,old.content);"
    " INSERT INTO documents_fts(rowid,content) VALUES(new.id,new.content);"
    " END;",
    /* 4: embedding cache: (embedder name:version, SHA-256 of the text). */
    "CREATE TABLE embedding_cache("
    " embedder TEXT NOT NULL,"
    " text_hash BLOB NOT NULL,"
    " vector BLOB NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY(embedder,text_hash)) WITHOUT ROWID;",
    /* 5: workflow definitions, runs with their tasks and events, and the
     * job signals: every state change of a job that belongs to a run is
     * recorded by a trigger in the transaction making it, for the engine.
     * All queue transitions are UPDATEs of jobs.state, so none is missed;
     * the WHEN clause costs plain jobs one NULL test. */
    "ALTER TABLE jobs ADD COLUMN run_id INTEGER;"
    "CREATE INDEX jobs_run ON jobs(run_id) WHERE run_id IS NOT NULL;"
    "CREATE TABLE workflows("
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " description TEXT,"
    " definition TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY(name,version));"
    "CREATE TABLE runs("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " workflow TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " inputs TEXT NOT NULL,"
    " error TEXT,"
    " rev INTEGER NOT NULL,"
    " deadline INTEGER,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " finished_at INTEGER);"
    "CREATE INDEX runs_workflow ON runs(workflow,id);"
    "CREATE INDEX runs_state ON runs(state,id);"
    "CREATE TABLE run_tasks("
    " run_id INTEGER NOT NULL,"
    " step INTEGER NOT NULL,"
    " item INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " job_id INTEGER,"
    " items INTEGER NOT NULL,"
    " output TEXT,"
    " error TEXT,"
    " deadline INTEGER,"
    " started_at INTEGER,"
    " finished_at INTEGER,"
    " PRIMARY KEY(run_id,step,item)) WITHOUT ROWID;"
    "CREATE TABLE run_events("
    " run_id INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " at INTEGER NOT NULL,"
    " type TEXT NOT NULL,"
    " step TEXT,"
    " item INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " error TEXT,"
    " data TEXT,"
    " PRIMARY KEY(run_id,seq)) WITHOUT ROWID;"
    "CREATE TABLE job_signals("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " job_id INTEGER NOT NULL,"
    " run_id INTEGER NOT NULL);"
    "CREATE TRIGGER jobs_signal AFTER UPDATE OF state ON jobs"
    " WHEN NEW.run_id IS NOT NULL AND NEW.state IS NOT OLD.state BEGIN"
    " INSERT INTO job_signals(job_id,run_id) VALUES(NEW.id,NEW.run_id);"
    " END;",
    /* 6: schedules: periodic jobs (queue/sched.h).  job is the JSON of the
     * job each fire enqueues; last_fire the fire time last enqueued. */
    "CREATE TABLE schedules("
    " name TEXT PRIMARY KEY,"
    " cron TEXT NOT NULL,"
    " job TEXT NOT NULL,"
    " enabled INTEGER NOT NULL DEFAULT 1,"
    " last_fire INTEGER,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);",
    /* 7: the evolution log (evolution/evolution.h); data is the JSON of
     * the change, its metrics, its monitor and its history. */
    "CREATE TABLE evolution_events("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " type TEXT NOT NULL,"
    " component TEXT NOT NULL,"
    " description TEXT NOT NULL,"
    " proposed_by TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " data TEXT NOT NULL,"
    " rev INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " applied_at INTEGER);"
    "CREATE INDEX evolution_component ON evolution_events(component,status);"
    "CREATE INDEX evolution_status ON evolution_events(status,id);",
    /* 8: doc_changes: every write of a document's vectors, so each process
     * keeps its in-memory index in step with the others' writes
     * (store.h, doc_changes).  origin: the writing store handle. */
    "CREATE TABLE doc_changes("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " doc_id INTEGER NOT NULL,"
    " deleted INTEGER NOT NULL,"
    " origin TEXT NOT NULL,"
    " at INTEGER NOT NULL);"
    "CREATE INDEX doc_changes_at ON doc_changes(at);",
};

int sqlc_err(sqlc *c, int rc, const char *what)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return 0;
    log_error("store: %s: %s", what, sqlite3_errmsg(c->db));
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return FS_EBUSY;
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return FS_ECORRUPT;
    return FS_EIO;
}

static int exec_sql(sqlc *c, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return rc == SQLITE_BUSY ? FS_EBUSY : FS_EIO;
    }
    return 0;
}

/* fs_token(): a fresh lease token (32 hex digits of kernel randomness). */
static void sql_token(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    char token[33];
    fs_random_hex(token, 16);
    sqlite3_result_text(ctx, token, 32, SQLITE_TRANSIENT);
}

int sqlc_open(sqlc **out, const char *path, bool sync_normal, int busy_ms)
{
    sqlc *c = xcalloc(1, sizeof *c);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        log_error("store: cannot open %s: %s", path, sqlite3_errmsg(c->db));
        goto fail;
    }
    sqlite3_busy_timeout(c->db, busy_ms);
    sqlite3_extended_result_codes(c->db, 0);
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
             "PRAGMA cache_size=-32000;",
             sync_normal ? "NORMAL" : "FULL");
    if (exec_sql(c, pragmas)) goto fail;
    if (sqlite3_create_function_v2(c->db, "fs_token", 0, SQLITE_UTF8, NULL,
                                   sql_token, NULL, NULL, NULL) != SQLITE_OK ||
        sqlfts_register(c->db) != 0)
        goto fail;
    fs_random_hex(c->origin, 16);
    *out = c;
    return 0;
fail:
    sqlc_close(c);
    return FS_EIO;
}

void sqlc_close(sqlc *c)
{
    if (!c) return;
    for (int i = 0; i < SQ__COUNT; i++) sqlite3_finalize(c->stmt[i]);
    sqlite3_close(c->db);
    free(c);
}

sqlite3_stmt *sqlc_stmt(sqlc *c, sqlc_stmt_id id)
{
    sqlite3_stmt *s = c->stmt[id];
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return s;
    }
    int rc = sqlite3_prepare_v3(c->db, sql_text[id], -1,
                                SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
        log_error("store: prepare %d: %s", (int)id, sqlite3_errmsg(c->db));
        return NULL;
    }
    c->stmt[id] = s;
    return s;
}

int sqlc_exec(sqlc *c, sqlc_stmt_id id)
{
    sqlite3_stmt *s = sqlc_stmt(c, id);
    if (!s) return FS_EIO;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, sql_text[id]);
}

void sqlc_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v) sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(s, i);
}

void sqlc_bind_time(sqlite3_stmt *s, int i, int64_t v)
{
    if (v) sqlite3_bind_int64(s, i, v);
    else sqlite3_bind_null(s, i);
}

static char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, i))
             : NULL;
}

void sqlc_read_job(sqlite3_stmt *s, fs_job *j)
{
    memset(j, 0, sizeof *j);
    j->id = sqlite3_column_int64(s, 0);
    j->type = col_text(s, 1);
    j->target_agent = col_text(s, 2);
    j->payload = col_text(s, 3);
    j->priority = sqlite3_column_int(s, 4);
    j->run_at = sqlite3_column_int64(s, 5);
    j->attempts = sqlite3_column_int(s, 6);
    j->max_attempts = sqlite3_column_int(s, 7);
    j->timeout_ms = sqlite3_column_int64(s, 8);
    j->unique_key = col_text(s, 9);
    const char *st = (const char *)sqlite3_column_text(s, 10);
    if (!st || !job_state_parse(st, &j->state)) j->state = JOB_FAILED;
    j->result = col_text(s, 11);
    j->last_error = col_text(s, 12);
    j->parent_id = sqlite3_column_int64(s, 13);
    j->lease_token = col_text(s, 14);
    j->lease_owner = col_text(s, 15);
    j->lease_expires = sqlite3_column_int64(s, 16);
    j->started_at = sqlite3_column_int64(s, 17);
    j->created_at = sqlite3_column_int64(s, 18);
    j->updated_at = sqlite3_column_int64(s, 19);
    j->finished_at = sqlite3_column_int64(s, 20);
    j->run_id = sqlite3_column_int64(s, 21);
}

void sqlc_read_agent(sqlite3_stmt *s, fs_agent *a)
{
    memset(a, 0, sizeof *a);
    a->id = col_text(s, 0);
    a->name = col_text(s, 1);
    a->type = col_text(s, 2);
    a->job_types = col_text(s, 3);
    a->metadata = col_text(s, 4);
    a->created_at = sqlite3_column_int64(s, 5);
    a->last_heartbeat = sqlite3_column_int64(s, 6);
    a->state_version = sqlite3_column_int64(s, 7);
}

void sqlc_read_doc(sqlite3_stmt *s, fs_doc *d, bool with_embedding)
{
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(s, 0);
    d->parent_id = sqlite3_column_int64(s, 1);
    d->parent_ref = -1;
    d->chunk_index = sqlite3_column_type(s, 2) == SQLITE_NULL
                         ? -1 : sqlite3_column_int(s, 2);
    d->agent = col_text(s, 3);
    d->kind = col_text(s, 4);
    d->content = col_text(s, 5);
    d->metadata = col_text(s, 6);
    d->tags = col_text(s, 7);
    d->importance = sqlite3_column_double(s, 8);
    int bytes = sqlite3_column_bytes(s, 9);
    if (with_embedding && bytes > 0) {
        d->dims = (size_t)bytes / sizeof(float);
        d->embedding = xmalloc(d->dims * sizeof(float));
        memcpy(d->embedding, sqlite3_column_blob(s, 9),
               d->dims * sizeof(float));
    }
    d->embedder = col_text(s, 10);
    d->embedder_version = col_text(s, 11);
    d->created_at = sqlite3_column_int64(s, 12);
    d->updated_at = sqlite3_column_int64(s, 13);
}

void sqlc_read_workflow(sqlite3_stmt *s, fs_workflow *w)
{
    memset(w, 0, sizeof *w);
    w->name = col_text(s, 0);
    w->version = sqlite3_column_int(s, 1);
    w->description = col_text(s, 2);
    w->definition = col_text(s, 3);
    w->created_at = sqlite3_column_int64(s, 4);
}

void sqlc_read_run(sqlite3_stmt *s, fs_run *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    r->workflow = col_text(s, 1);
    r->version = sqlite3_column_int(s, 2);
    r->state = (run_state)sqlite3_column_int(s, 3);
    r->inputs = col_text(s, 4);
    r->error = col_text(s, 5);
    r->rev = sqlite3_column_int64(s, 6);
    r->deadline = sqlite3_column_int64(s, 7);
    r->created_at = sqlite3_column_int64(s, 8);
    r->updated_at = sqlite3_column_int64(s, 9);
    r->finished_at = sqlite3_column_int64(s, 10);
}

void sqlc_read_task(sqlite3_stmt *s, fs_run_task *t)
{
    memset(t, 0, sizeof *t);
    t->run_id = sqlite3_column_int64(s, 0);
    t->step = sqlite3_column_int(s, 1);
    t->item = sqlite3_column_int(s, 2);
    t->state = (task_state)sqlite3_column_int(s, 3);
    t->attempts = sqlite3_column_int(s, 4);
    t->job_id = sqlite3_column_int64(s, 5);
    t->job_ref = -1;
    t->items = sqlite3_column_int(s, 6);
    t->output = col_text(s, 7);
    t->error = col_text(s, 8);
    t->deadline = sqlite3_column_int64(s, 9);
    t->started_at = sqlite3_column_int64(s, 10);
    t->finished_at = sqlite3_column_int64(s, 11);
}

void sqlc_read_event(sqlite3_stmt *s, fs_run_event *e)
{
    memset(e, 0, sizeof *e);
    e->run_id = sqlite3_column_int64(s, 0);
    e->seq = sqlite3_column_int64(s, 1);
    e->at = sqlite3_column_int64(s, 2);
    e->type = col_text(s, 3);
    e->step = col_text(s, 4);
    e->item = sqlite3_column_int(s, 5);
    e->attempt = sqlite3_column_int(s, 6);
    e->error = col_text(s, 7);
    e->data = col_text(s, 8);
}

void sqlc_read_schedule(sqlite3_stmt *s, fs_schedule *out)
{
    memset(out, 0, sizeof *out);
    out->name = col_text(s, 0);
    out->cron = col_text(s, 1);
    out->job = col_text(s, 2);
    out->enabled = sqlite3_column_int(s, 3) != 0;
    out->last_fire = sqlite3_column_int64(s, 4);
    out->created_at = sqlite3_column_int64(s, 5);
    out->updated_at = sqlite3_column_int64(s, 6);
}

int sqlc_doc_changed(sqlc *c, int64_t id, bool deleted)
{
    sqlite3_stmt *s = sqlc_stmt(c, SQ_CHANGE_INSERT);
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, deleted);
    sqlite3_bind_text(s, 3, c->origin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, fs_now(&fs_clock_real));
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sqlc_err(c, rc, "doc change");
}

void sqlc_read_evolution(sqlite3_stmt *s, fs_evolution *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(s, 0);
    out->type = col_text(s, 1);
    out->component = col_text(s, 2);
    out->description = col_text(s, 3);
    out->proposed_by = col_text(s, 4);
    out->status = col_text(s, 5);
    out->data = col_text(s, 6);
    out->rev = sqlite3_column_int64(s, 7);
    out->created_at = sqlite3_column_int64(s, 8);
    out->updated_at = sqlite3_column_int64(s, 9);
    out->applied_at = sqlite3_column_int64(s, 10);
}

static int64_t current_version(sqlc *c)
{
    sqlite3_stmt *s;
    int64_t v = -1;
    if (sqlite3_prepare_v2(c->db, "SELECT max(version) FROM schema_migrations",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

int sqlc_migrate(sqlc *c, int64_t now)
{
    int rc = exec_sql(c, "CREATE TABLE IF NOT EXISTS schema_migrations("
                         "version INTEGER PRIMARY KEY,"
                         "applied_at INTEGER NOT NULL)");
    if (rc) return rc;
    int64_t have = current_version(c);
    if (have < 0) return FS_EIO;
    int64_t want = (int64_t)(sizeof migrations / sizeof *migrations);
    if (have > want) {
        log_error("store: database schema v%lld is newer than this binary "
                  "(v%lld)", (long long)have, (long long)want);
        return FS_EIO;
    }
    for (int64_t v = have + 1; v <= want; v++) {
        /* Re-read under the write lock: another process may have migrated. */
        if ((rc = exec_sql(c, "BEGIN IMMEDIATE"))) return rc;
        if (current_version(c) >= v) {
            exec_sql(c, "COMMIT");
            continue;
        }
        char *rec = xasprintf("%s; INSERT INTO schema_migrations "
                              "VALUES(%lld,%lld); COMMIT;",
                              migrations[v - 1], (long long)v, (long long)now);
        rc = exec_sql(c, rec);
        free(rec);
        if (rc) {
            exec_sql(c, "ROLLBACK");
            log_error("store: migration %lld failed", (long long)v);
            return rc;
        }
        log_info("store: applied schema migration %lld", (long long)v);
    }
    return 0;
}
