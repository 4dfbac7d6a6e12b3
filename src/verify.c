/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  verify_key: the read-only check a gateway runs on every request.
 *
 * Always exactly one row.  Only a raw key is a credential: a token given
 * here is "malformed" and is never looked up, so a leaked hash cannot be
 * used to authenticate.  Nothing is written and nothing is locked.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(verify_key);

/* output columns of verify_key */
enum
{
	V_VALID, V_STATUS, V_TOKEN, V_USER_ID, V_TEAM_ID, V_ORGANIZATION_ID,
	V_EXPIRES, V_METADATA, V_NCOLUMNS
};

static SPIPlanPtr verify_plan = NULL;

#define VERIFY_SQL \
	"SELECT k.blocked, k.user_id, k.team_id, k.organization_id, k.expires," \
	" k.metadata FROM keymgmt.keys k WHERE k.token OPERATOR(pg_catalog.=) $1"

/*
 * verify_key(key text) RETURNS TABLE(valid, status, token, user_id, team_id,
 *									   organization_id, expires, metadata)
 *
 * status is checked in this order: not_found, blocked, expired, else valid.
 * A key expires at its expires timestamp, compared with now() (the
 * transaction's start).  NULL raises 22004 like every other function.
 */
Datum
verify_key(PG_FUNCTION_ARGS)
{
	Datum		values[V_NCOLUMNS];
	bool		nulls[V_NCOLUMNS];
	ParsedKey	key;
	const char *status;

	CheckOneRowContext(fcinfo);
	if (PG_ARGISNULL(0))
		ParseKeyArgument(fcinfo, 0, &key);	/* raises 22004 */

	memset(nulls, true, sizeof(nulls));
	nulls[V_VALID] = nulls[V_STATUS] = false;

	if (!KeyArgumentParses(fcinfo, 0, &key) || !key.is_raw)
		status = "malformed";
	else
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1];
		int			ret;

		values[V_TOKEN] = CStringGetTextDatum(key.token);
		nulls[V_TOKEN] = false;

		SPI_connect();
		args[0] = values[V_TOKEN];
		ret = SPI_execute_plan(KeptPlan(&verify_plan, VERIFY_SQL, 1, argtypes),
							   args, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "keymgmt: verifying a key failed: %s",
				 SPI_result_code_string(ret));

		if (SPI_processed == 0)
			status = "not_found";
		else
		{
			HeapTuple	row = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int			i;

			for (i = V_USER_ID; i <= V_METADATA; i++)
			{
				values[i] = SPI_getbinval(row, desc, i - V_USER_ID + 2, &nulls[i]);
				if (!nulls[i])
					values[i] = SPI_datumTransfer(values[i],
												  TupleDescAttr(desc, i - V_USER_ID + 1)->attbyval,
												  TupleDescAttr(desc, i - V_USER_ID + 1)->attlen);
			}

			if (DatumGetBool(SPI_getbinval(row, desc, 1, &isnull)))
				status = "blocked";
			else if (!nulls[V_EXPIRES] &&
					 DatumGetTimestampTz(values[V_EXPIRES]) <=
					 GetCurrentTransactionStartTimestamp())
				status = "expired";
			else
				status = "valid";
		}
		SPI_finish();
	}

	values[V_VALID] = BoolGetDatum(strcmp(status, "valid") == 0);
	values[V_STATUS] = CStringGetTextDatum(status);
	ReturnOneRow(fcinfo, values, nulls);
	return (Datum) 0;
}
