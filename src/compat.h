/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every difference between the PostgreSQL versions keymgmt builds
 *	  against (13 to 18), in one place.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KEYMGMT_COMPAT_H
#define KEYMGMT_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#endif
#include "common/sha2.h"
#include "utils/guc.h"

/*
 * KmSha256
 *	  SHA-256 of data into digest (PG_SHA256_DIGEST_LENGTH bytes), with
 *	  PostgreSQL's own implementation: the cryptohash API from 14 (its
 *	  final() takes the digest length from 15), pg_sha256_* before.
 */
static inline bool
KmSha256(const uint8 *data, size_t len, uint8 *digest)
{
#if PG_VERSION_NUM >= 140000
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bool		ok;

	if (ctx == NULL)
		return false;
	ok = pg_cryptohash_init(ctx) == 0 &&
		pg_cryptohash_update(ctx, data, len) == 0 &&
#if PG_VERSION_NUM >= 150000
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) == 0;
#else
		pg_cryptohash_final(ctx, digest) == 0;
#endif
	pg_cryptohash_free(ctx);
	return ok;
#else
	pg_sha256_ctx ctx;

	pg_sha256_init(&ctx);
	pg_sha256_update(&ctx, data, len);
	pg_sha256_final(&ctx, digest);
	return true;
#endif
}

/* pg_b64_encode's source is uint8 from 18, char before */
#if PG_VERSION_NUM >= 180000
#define KM_B64_SOURCE(p) ((const uint8 *) (p))
#else
#define KM_B64_SOURCE(p) ((const char *) (p))
#endif

/* index_beginscan takes scan instrumentation from 18 */
#if PG_VERSION_NUM >= 180000
#define KmIndexBeginScan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, NULL, nkeys, norderbys)
#else
#define KmIndexBeginScan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, nkeys, norderbys)
#endif

/* the primary key's index: 18 asks whether a deferrable one will do */
#if PG_VERSION_NUM >= 180000
#define KmPrimaryKeyIndex(rel) RelationGetPrimaryKeyIndex(rel, false)
#else
#define KmPrimaryKeyIndex(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * Functions that do not return: 18 has pg_noreturn (C11 _Noreturn, before
 * the declaration) and no longer pg_attribute_noreturn(); before 18 the
 * attribute may stand in the same place.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/* reserving our setting prefix: renamed in 15 */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * A setting's record (utils/guc_tables.h): find_option is exported from
 * 16 on; before, the array of every setting is searched.
 */
#include "utils/guc_tables.h"
static inline struct config_generic *
KmFindSetting(const char *name)
{
#if PG_VERSION_NUM >= 160000
	return find_option(name, false, true, ERROR);
#else
	struct config_generic **all = get_guc_variables();
	int			n = GetNumConfigOptions();
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
#endif
}

/*
 * SPI_execute_plan_extended, which can hand a query's rows to a
 * DestReceiver of our own instead of materializing them (14 and later):
 * the change feed forms its rows as they come.
 */
#if PG_VERSION_NUM >= 140000
#define KM_SPI_EXECUTE_TO_DEST 1
#endif

#endif							/* KEYMGMT_COMPAT_H */
