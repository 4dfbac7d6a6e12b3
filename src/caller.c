/*-------------------------------------------------------------------------
 *
 * caller.c
 *	  The role that called a keymgmt function, and running the function
 *	  with the extension owner's rights.
 *
 * keymgmt's functions are not SECURITY DEFINER: each switches to the owner
 * of keymgmt.keys in C (SetUserIdAndSecContext, as pg_cron does) around
 * its work, after it has noted who called it.  So the audit log's db_role
 * is the role in effect at the call -- the owner of a SECURITY DEFINER
 * wrapper, the table owner while ANALYZE or autovacuum evaluates an index
 * expression, the role whose statement fired a trigger -- and never the
 * superuser whose session happened to run the code.  Every query keymgmt
 * runs is fully schema-qualified, so the caller's search_path changes
 * nothing, and the switch adds SECURITY_RESTRICTED_OPERATION, so nothing
 * that runs as the owner can leave state behind in the session.
 *
 * An error needs no cleanup: aborting the (sub)transaction restores the
 * user and the security context.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/*
 * keymgmt.keys' OID and owner, kept across calls.  DROP and CREATE
 * EXTENSION give the table a new OID and ALTER TABLE OWNER a new owner: any
 * invalidation of the table (or of all relations) makes the next call look
 * them up again.
 */
static Oid	keys_relid = InvalidOid;
static Oid	keys_owner = InvalidOid;

static void
ForgetKeysTable(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == keys_relid)
		keys_relid = InvalidOid;
}

/*
 * KeysTableOid
 *	  keymgmt.keys' OID (42P01 when there is none), with its owner.
 */
Oid
KeysTableOid(void)
{
	static bool callback_registered = false;
	Oid			relid;
	HeapTuple	tuple;

	if (OidIsValid(keys_relid))
		return keys_relid;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(ForgetKeysTable, (Datum) 0);
		callback_registered = true;
	}
	relid = get_relname_relid("keys", get_namespace_oid("keymgmt", false));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"keymgmt.keys\" does not exist")));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	keys_owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	keys_relid = relid;
	return relid;
}

/*
 * KeysTableOwner
 *	  The role whose rights keymgmt's functions run with.
 */
Oid
KeysTableOwner(void)
{
	(void) KeysTableOid();
	return keys_owner;
}

/*
 * DefinedAsSecurityDefiner
 *	  Is the SQL definition of the running function SECURITY DEFINER?
 *
 * Only keymgmt 1.0's definitions are, until ALTER EXTENSION keymgmt
 * UPDATE; PostgreSQL has then switched to their owner before calling us,
 * and the caller's role is the session's outer user, as 1.0 recorded it.
 */
static bool
DefinedAsSecurityDefiner(FunctionCallInfo fcinfo)
{
	HeapTuple	tuple;
	bool		secdef;

	if (fcinfo->flinfo == NULL || !OidIsValid(fcinfo->flinfo->fn_oid))
		return false;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tuple))
		return false;
	secdef = ((Form_pg_proc) GETSTRUCT(tuple))->prosecdef;
	ReleaseSysCache(tuple);
	return secdef;
}

/*
 * CallerEnter
 *	  Note who called, then switch to the extension owner's rights.
 *
 * Call first thing in every SQL-callable function that reads or changes
 * keymgmt's tables, and CallerLeave before returning.
 */
void
CallerEnter(FunctionCallInfo fcinfo, Caller *caller)
{
	Oid			owner = KeysTableOwner();

	GetUserIdAndSecContext(&caller->save_userid, &caller->save_sec_context);
	caller->restricted = InSecurityRestrictedOperation();
	caller->role = DefinedAsSecurityDefiner(fcinfo) ? GetOuterUserId()
		: caller->save_userid;
	SetUserIdAndSecContext(owner, caller->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/*
 * CallerLeave
 *	  Back to the caller's rights.
 */
void
CallerLeave(Caller *caller)
{
	SetUserIdAndSecContext(caller->save_userid, caller->save_sec_context);
}

/*
 * CallerRoleName
 *	  The calling role's name, for audit_log.db_role.
 */
char *
CallerRoleName(const Caller *caller)
{
	return GetUserNameFromId(caller->role, false);
}
