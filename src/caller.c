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
 * The OIDs of keymgmt's tables that C code reads directly, kept across
 * calls, each in a slot of its reader's.  DROP and CREATE EXTENSION give a
 * table a new OID, ALTER TABLE may change what was derived from it (its
 * owner, its attribute numbers): any invalidation of the table, or of all
 * relations, empties its slot, and the next call looks it up again.
 */
#define MAX_KEPT_RELATIONS 8

static Oid *kept_slots[MAX_KEPT_RELATIONS];
static int	n_kept_slots = 0;

static void
ForgetKeptRelations(Datum arg pg_attribute_unused(), Oid relid)
{
	int			i;

	for (i = 0; i < n_kept_slots; i++)
		if (!OidIsValid(relid) || *kept_slots[i] == relid)
			*kept_slots[i] = InvalidOid;
}

/*
 * KeptRelation
 *	  The OID of keymgmt.<relname>, from *slot when it is still valid.
 *
 * *fresh says whether it was just looked up, so that the caller derives
 * again what it keeps beside it.  A missing table is 42P01, or InvalidOid
 * when missing_ok (keymgmt 1.0's schema lacks the 1.1 tables); that is not
 * kept, so the table is looked for again until it exists.
 */
Oid
KeptRelation(Oid *slot, const char *relname, bool missing_ok, bool *fresh)
{
	int			i;

	*fresh = false;
	if (OidIsValid(*slot))
		return *slot;

	for (i = 0; i < n_kept_slots && kept_slots[i] != slot; i++)
		;
	if (i == n_kept_slots)
	{
		if (n_kept_slots == 0)
			CacheRegisterRelcacheCallback(ForgetKeptRelations, (Datum) 0);
		if (n_kept_slots == MAX_KEPT_RELATIONS)
			elog(ERROR, "keymgmt: too many kept relations");
		kept_slots[n_kept_slots++] = slot;
	}

	*slot = get_relname_relid(relname, get_namespace_oid("keymgmt", false));
	if (!OidIsValid(*slot) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"keymgmt.%s\" does not exist", relname)));
	*fresh = OidIsValid(*slot);
	return *slot;
}

static Oid	keys_relid = InvalidOid;
static Oid	keys_owner = InvalidOid;

/*
 * KeysTableOid
 *	  keymgmt.keys' OID (42P01 when there is none), with its owner.
 */
static Oid
KeysTableOid(void)
{
	bool		fresh;
	Oid			relid = KeptRelation(&keys_relid, "keys", false, &fresh);

	if (fresh)
	{
		HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for relation %u", relid);
		keys_owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
		ReleaseSysCache(tuple);
	}
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

static Oid	previous_relid = InvalidOid;

/*
 * SchemaIsCurrent
 *	  Are keymgmt's tables at 1.1 (keymgmt.previous_tokens exists)?  With
 *	  the 1.1 library and the extension still at 1.0, they are not, until
 *	  ALTER EXTENSION keymgmt UPDATE.
 */
bool
SchemaIsCurrent(void)
{
	bool		fresh;

	return OidIsValid(KeptRelation(&previous_relid, "previous_tokens", true,
								   &fresh));
}

/*
 * RequireCurrentSchema
 *	  55000 for a change on a 1.0 schema: its tables lack the key_id and
 *	  the audit columns 1.1 writes.  Reading (verify_key, key_info) and the
 *	  admin grants still work there.
 */
void
RequireCurrentSchema(const char *what)
{
	if (!SchemaIsCurrent())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs keymgmt's tables at version 1.1", what),
				 errdetail("The keymgmt library is at version 1.1 and the extension in this database at 1.0."),
				 errhint("Run ALTER EXTENSION keymgmt UPDATE.")));
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
