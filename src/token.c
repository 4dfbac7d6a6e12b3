/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Parse, hash, mask and generate API keys.
 *
 * Nothing here touches the database.  A raw key is "sk-" followed by 1 to
 * 252 characters of [A-Za-z0-9_-]; its token is the lowercase hex SHA-256 of
 * the whole string, the same as LiteLLM's hash_token, so imported tokens
 * keep working.  The raw key is never copied anywhere but into the hash.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "common/base64.h"
#include "port.h"
#include "utils/builtins.h"

static inline bool
IsRawKeyChar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-';
}

static inline bool
IsHexDigit(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		(c >= 'A' && c <= 'F');
}

/*
 * KeyIsRawForm
 *	  Has s the form of a raw key: "sk-" and 1 to 252 of [A-Za-z0-9_-]?
 */
bool
KeyIsRawForm(const char *s, size_t len)
{
	size_t		prefix = strlen(KEYMGMT_RAW_PREFIX);
	size_t		i;

	if (len <= prefix || len > KEYMGMT_RAW_MAX_LEN ||
		memcmp(s, KEYMGMT_RAW_PREFIX, prefix) != 0)
		return false;
	for (i = prefix; i < len; i++)
		if (!IsRawKeyChar((unsigned char) s[i]))
			return false;
	return true;
}

/*
 * KeyIsEmbedded
 *	  Does s hold a raw key: is it of the raw-key form as a whole, or does
 *	  "sk-" followed by KEYMGMT_EMBEDDED_MIN or more key characters start it
 *	  or follow a character that is not a key character?
 *
 * "Bearer sk-..." holds one; "risk-management-emea-2024" does not (its
 * "sk-" follows a key character), nor does "sk-short label".
 */
bool
KeyIsEmbedded(const char *s, size_t len)
{
	size_t		prefix = strlen(KEYMGMT_RAW_PREFIX);
	size_t		i;

	if (KeyIsRawForm(s, len))
		return true;
	for (i = 0; i + prefix <= len; i++)
	{
		size_t		run = 0;

		if (memcmp(s + i, KEYMGMT_RAW_PREFIX, prefix) != 0 ||
			(i > 0 && IsRawKeyChar((unsigned char) s[i - 1])))
			continue;
		while (i + prefix + run < len &&
			   IsRawKeyChar((unsigned char) s[i + prefix + run]))
			run++;
		if (run >= KEYMGMT_EMBEDDED_MIN)
			return true;
	}
	return false;
}

/*
 * KeyParse
 *	  Recognise a raw key or a 64-hex token and fill *out.
 *
 * Returns false for anything else; the caller decides how to report it and
 * must not echo the input.  Length is checked first, so a huge string costs
 * nothing.  A raw key is hashed here, once.
 */
bool
KeyParse(const char *s, size_t len, ParsedKey *out)
{
	size_t		i;

	if (len > KEYMGMT_RAW_MAX_LEN)
		return false;

	if (KeyIsRawForm(s, len))
	{
		out->is_raw = true;
		KeyHash(s, len, out->token);
		/*
		 * Messages name a raw key by its key_name form, unless the key is so
		 * short that its last 4 characters would give most of it away.
		 */
		if (len - strlen(KEYMGMT_RAW_PREFIX) >= 2 * 4)
			KeyName(s, len, out->display);
		else
			strlcpy(out->display, KEYMGMT_RAW_PREFIX "...", sizeof(out->display));
		return true;
	}

	if (len == KEYMGMT_TOKEN_LEN)
	{
		for (i = 0; i < len; i++)
		{
			unsigned char c = (unsigned char) s[i];

			if (!IsHexDigit(c))
				return false;
			out->token[i] = (c >= 'A' && c <= 'F') ? c - 'A' + 'a' : c;
		}
		out->token[len] = '\0';
		out->is_raw = false;
		snprintf(out->display, sizeof(out->display), "%.12s...", out->token);
		return true;
	}

	return false;
}

/*
 * KeyHash
 *	  Lowercase hex SHA-256 of the raw key, with PostgreSQL's own hashing.
 *
 * token must have room for KEYMGMT_TOKEN_LEN + 1 bytes.
 */
void
KeyHash(const char *raw, size_t len, char *token)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	if (!KmSha256((const uint8 *) raw, len, digest))
		elog(ERROR, "could not compute SHA-256 of a key");
	hex_encode((const char *) digest, sizeof(digest), token);
	token[KEYMGMT_TOKEN_LEN] = '\0';
}

/*
 * KeyName
 *	  The display form of a raw key: "sk-..." and its last 4 characters.
 *
 * name must have room for KEYMGMT_DISPLAY_LEN bytes.  This is the only form
 * of a raw key that is stored or shown.
 */
void
KeyName(const char *raw, size_t len, char *name)
{
	size_t		tail = Min(len, 4);

	snprintf(name, KEYMGMT_DISPLAY_LEN, "sk-...%.*s",
			 (int) tail, raw + len - tail);
}

/*
 * KeyGenerate
 *	  A new raw key: "sk-" + URL-safe base64 (no padding) of 256 random bits.
 *
 * The result is palloc'd in the current memory context.
 */
char *
KeyGenerate(void)
{
	uint8		random[KEYMGMT_RANDOM_BYTES];
	int			b64len = pg_b64_enc_len(sizeof(random));
	size_t		prefix = strlen(KEYMGMT_RAW_PREFIX);
	char	   *key = palloc(prefix + b64len + 1);
	char	   *b64 = key + prefix;
	int			n;
	int			i;

	if (!pg_strong_random(random, sizeof(random)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes for a key")));

	memcpy(key, KEYMGMT_RAW_PREFIX, prefix);
	n = pg_b64_encode(KM_B64_SOURCE(random), sizeof(random), b64, b64len);
	explicit_bzero(random, sizeof(random));
	if (n < 0)
		elog(ERROR, "could not encode a key");

	/* standard base64 to the URL-safe alphabet, padding dropped */
	while (n > 0 && b64[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++)
	{
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	b64[n] = '\0';
	return key;
}
