/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  Cache-invalidation messages for key changes.
 *
 * Every real change queues one notification on channel "keymgmt" with the
 * payload {"action": "...", "token": "...", "key_id": "..."} (a cache drops
 * every answer of that key_id, whichever secret it was asked with), or for a change of who is an
 * admin {"action": "...", "object_type": "admin", "user_id": "..."}.  It goes through PostgreSQL's
 * own NOTIFY queue in the caller's transaction, so listeners see it only if
 * the change commits, and in commit order.  That is keymgmt.notify =
 * commit, 1.0's behaviour.  With batched (notifier.c) or off, a change
 * queues nothing: it takes no NOTIFY lock at commit, does not depend on
 * the queue having room, and may run in a prepared transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "commands/async.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/uuid.h"

/*
 * NotifyKeyChange
 *	  Queue the notification for one change, in commit mode.
 *
 * action is one of our fixed words, token is 64 hex digits and key_id a
 * uuid, so none needs JSON escaping.
 */
void
NotifyKeyChange(const char *action, const char *token, Datum key_id)
{
	StringInfoData payload;

	if (keymgmt_notify != NOTIFY_COMMIT)
		return;

	initStringInfo(&payload);
	appendStringInfo(&payload,
					 "{\"action\": \"%s\", \"token\": \"%s\", \"key_id\": \"%s\"}",
					 action, token,
					 DatumGetCString(DirectFunctionCall1(uuid_out, key_id)));
	Async_Notify(KEYMGMT_CHANNEL, payload.data);
	pfree(payload.data);
}

/*
 * NotifyAdminChange
 *	  Queue the notification for a grant_admin or revoke_admin that changed
 *	  something.  user_id is the caller's text, so it is JSON-escaped.
 */
void
NotifyAdminChange(const char *action, const char *user_id)
{
	StringInfoData payload;

	if (keymgmt_notify != NOTIFY_COMMIT)
		return;

	initStringInfo(&payload);
	appendStringInfo(&payload,
					 "{\"action\": \"%s\", \"object_type\": \"admin\", \"user_id\": ",
					 action);
	escape_json(&payload, user_id);
	appendStringInfoChar(&payload, '}');
	Async_Notify(KEYMGMT_CHANNEL, payload.data);
	pfree(payload.data);
}
