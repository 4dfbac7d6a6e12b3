/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  Cache-invalidation messages for key changes.
 *
 * Every real change queues one notification on channel "keymgmt" with the
 * payload {"action": "...", "token": "..."}.  It goes through PostgreSQL's
 * own NOTIFY queue in the caller's transaction, so listeners see it only if
 * the change commits, and in commit order.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "commands/async.h"
#include "lib/stringinfo.h"

#define KEYMGMT_CHANNEL "keymgmt"

/*
 * NotifyKeyChange
 *	  Queue the notification for one change, unless keymgmt.notify is off.
 *
 * action is one of our fixed words and token is 64 hex digits, so neither
 * needs JSON escaping.
 */
void
NotifyKeyChange(const char *action, const char *token)
{
	StringInfoData payload;

	if (!keymgmt_notify)
		return;

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"action\": \"%s\", \"token\": \"%s\"}",
					 action, token);
	Async_Notify(KEYMGMT_CHANNEL, payload.data);
	pfree(payload.data);
}
