/*-------------------------------------------------------------------------
 *
 * notifier.c
 *	  The background worker of keymgmt.notify = batched.
 *
 * In commit mode every changing transaction sends its own NOTIFY, and
 * PostgreSQL holds one cluster-wide lock from a notifying transaction's
 * pre-commit through its WAL flush, so notifying commits never share a
 * flush.  In batched mode the changing transactions send nothing; this
 * worker looks every keymgmt.notify_interval at the head of the change feed
 * (feed.c) and, when new changes became visible there, sends one
 * notification on channel "keymgmt" with payload {"cursor": "..."}: one
 * NOTIFY per interval, whatever the rate of changes.  Listeners then read
 * keymgmt.changes(); the payload is a hint (any role may NOTIFY on any
 * channel), never state.
 *
 * It is registered when keymgmt is in shared_preload_libraries: one per
 * cluster, connected to keymgmt.database (when that changes, it exits and
 * the postmaster starts it again, connected there).  It follows keymgmt.notify as
 * that database sees it (postgresql.conf, ALTER SYSTEM, ALTER DATABASE) and
 * sleeps while that is not batched.  It starts when the server accepts
 * connections as a primary (on a hot standby, at promotion: a standby
 * cannot NOTIFY, and NOTIFY is not replayed; gateways there poll).  After a
 * restart it sends one notification for the head it finds, so listeners
 * catch up on what committed while it was gone.  While the database has no
 * keymgmt 1.1 it logs that once and keeps looking.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/xact.h"
#include "commands/async.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/xid8.h"

/* seconds before the postmaster starts the worker again after it failed */
#define NOTIFIER_RESTART_SECONDS 5

/* the last change that no running transaction can still precede */
#define HEAD_SQL \
	"SELECT a.txid, a.id FROM keymgmt.audit_log a" \
	" WHERE a.txid OPERATOR(pg_catalog.<)" \
	" pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())" \
	" ORDER BY a.txid DESC, a.id DESC LIMIT 1"

/*
 * RegisterNotifier
 *	  Ask the postmaster for the worker (from _PG_init, while preloading).
 */
void
RegisterNotifier(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = NOTIFIER_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "keymgmt");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "keymgmt_notifier_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "keymgmt notifier");
	snprintf(worker.bgw_type, BGW_MAXLEN, "keymgmt notifier");
	RegisterBackgroundWorker(&worker);
}

typedef enum FeedState
{
	FEED_MISSING,				/* no keymgmt 1.1 in the database */
	FEED_EMPTY,					/* no change is final yet */
	FEED_HEAD					/* *txid, *id: the last final change */
} FeedState;

/*
 * ReadHead
 *	  Inside a transaction with SPI connected: the feed's head.
 */
static FeedState
ReadHead(uint64 *txid, int64 *id)
{
	static SPIPlanPtr head_plan = NULL;
	bool		isnull;
	int			ret;

	if (!OidIsValid(get_extension_oid("keymgmt", true)) || !SchemaIsCurrent())
		return FEED_MISSING;
	ret = SPI_execute_plan(KeptPlan(&head_plan, HEAD_SQL, 0, NULL), NULL, NULL,
						   true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "keymgmt notifier: reading the feed's head failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return FEED_EMPTY;
	*txid = U64FromFullTransactionId(DatumGetFullTransactionId(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 2, &isnull));
	return FEED_HEAD;
}

/*
 * keymgmt_notifier_main
 *	  The worker's body.  Errors are FATAL here (a worker has no outer
 *	  loop to return to): the postmaster starts it again after
 *	  NOTIFIER_RESTART_SECONDS.
 */
void
keymgmt_notifier_main(Datum arg pg_attribute_unused())
{
	bool		sent_any = false;
	uint64		sent_txid = 0;
	int64		sent_id = 0;
	bool		said_missing = false;
	char	   *database;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	database = pstrdup(keymgmt_database);
	BackgroundWorkerInitializeConnection(database, NULL, 0);
	pgstat_report_appname("keymgmt notifier");
	ereport(LOG,
			(errmsg("keymgmt notifier started for database \"%s\"",
					database)));

	for (;;)
	{
		uint64		txid = 0;
		int64		id = 0;
		FeedState	state;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (strcmp(keymgmt_database, database) != 0)
			{
				/* exit 1: the postmaster starts it again, connected there */
				ereport(LOG,
						(errmsg("keymgmt notifier: keymgmt.database is now \"%s\"; restarting",
								keymgmt_database)));
				proc_exit(1);
			}
		}

		if (keymgmt_notify == NOTIFY_BATCHED)
		{
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			pgstat_report_activity(STATE_RUNNING, "keymgmt notifier: reading the feed's head");
			SPI_connect();
			state = ReadHead(&txid, &id);
			if (state == FEED_HEAD &&
				(!sent_any || txid > sent_txid ||
				 (txid == sent_txid && id > sent_id)))
			{
				char	   *payload = psprintf("{\"cursor\": \"%s\"}",
											   CursorText(txid, id));

				Async_Notify(KEYMGMT_CHANNEL, payload);
				sent_any = true;
				sent_txid = txid;
				sent_id = id;
			}
			SPI_finish();
			PopActiveSnapshot();
			CommitTransactionCommand();
			pgstat_report_activity(STATE_IDLE, NULL);

			if (state == FEED_MISSING && !said_missing)
				ereport(LOG,
						(errmsg("keymgmt notifier: database \"%s\" has no keymgmt 1.1; waiting for CREATE EXTENSION keymgmt or ALTER EXTENSION keymgmt UPDATE",
								database)));
			said_missing = (state == FEED_MISSING);
		}

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 keymgmt_notify_interval, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
