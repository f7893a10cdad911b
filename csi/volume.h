/* What a CSI volume is to t9kfs: its attributes (PV volumeAttributes, an
 * inline volume's attributes, StorageClass parameters) and the formats of
 * the volume and snapshot ids the controller hands out. Pure functions:
 * no I/O, errors are T9K_EUSAGE with a message naming the attribute.
 *
 * Attributes (README "Kubernetes"):
 *   repo (required), ref (default main), path (a directory of the ref),
 *   readOnly (true|false), cacheGroup (@NAME or HOST:PORT,...), and the
 *   options of 't9kfs mount -o': cache_size, prefetch, prefetch_threads,
 *   read_ahead_kb, max_threads, timeout, poll, uid, gid, cache_data,
 *   default_permissions (the last two take true|false).
 *   StorageClass only: fromRef (default main), branchPrefix (default
 *   pvc-), onDelete (delete|retain|commit, default delete).
 *   Keys with a '/' (csi.storage.k8s.io/..., set by Kubernetes) are
 *   ignored, but for csi.storage.k8s.io/ephemeral.
 *
 * Ids (at most CSI_ID_MAX bytes, as the CSI spec limits strings):
 *   volume    REPO@BRANCH/ONDELETE    e.g. imagenet@pvc-4f1c/delete
 *   snapshot  REPO@COMMIT             COMMIT: 64 hex digits
 */
#ifndef T9K_CSI_VOLUME_H
#define T9K_CSI_VOLUME_H

#include "lib/oid.h"
#include "meta/db.h"
#include "meta/repo.h"

#include <stdbool.h>
#include <stddef.h>

#define CSI_ID_MAX 128
#define CSI_DEFAULT_BRANCH_PREFIX "pvc-"

enum csi_on_delete { CSI_ON_DELETE_DELETE, CSI_ON_DELETE_RETAIN, CSI_ON_DELETE_COMMIT };

/* One entry of a protobuf-c map<string,string>: every generated entry type
 * has this layout after its base (csi_kv_of). */
struct csi_kv {
	const char *key, *value;
};

struct csi_volume {
	char repo[META_REPO_NAME_MAX + 1];
	char ref[META_REF_MAX + 1];
	char path[REPO_PATH_MAX + 1];  /* normalised; "" is the root */
	bool read_only;                /* readOnly=true or a "ro" mount flag */
	bool ephemeral;                /* csi.storage.k8s.io/ephemeral=true */
	char cache_group[1024];        /* "" for the node's default */
	char options[1024];            /* t9kfs mount -o list, in a fixed order */
	/* StorageClass parameters (csi_volume_parse with storage_class) */
	char from_ref[META_REF_MAX + 1];
	char branch_prefix[META_REPO_NAME_MAX + 1];
	enum csi_on_delete on_delete;
};

/* Parses attributes into v. storage_class: also take the StorageClass-only
 * keys (else they are refused). */
int csi_volume_parse(const struct csi_kv *kv, size_t n, bool storage_class, struct csi_volume *v);
/* Adds a volume capability's mount flags: "ro", or t9kfs mount options. */
int csi_volume_add_flags(struct csi_volume *v, char *const *flags, size_t n);
/* True when key is passed from StorageClass parameters to the volume
 * context that NodeStageVolume gets (not StorageClass-only, not Kubernetes'). */
bool csi_volume_node_key(const char *key);

const char *csi_on_delete_name(enum csi_on_delete p);

/* The branch or tag of a CSI volume or snapshot name: prefix + name (name
 * alone when it starts with prefix) when that is a valid ref name; else,
 * as CSI names may be 128 bytes of anything, its valid characters cut
 * short, '-' and 16 hex digits of the name's SHA-256. out holds
 * META_REPO_NAME_MAX + 1 bytes. */
int csi_ref_name(const char *prefix, const char *name, char *out, size_t outsz);

int csi_volume_id_format(const char *repo, const char *branch, enum csi_on_delete p, char *out,
			 size_t outsz);
int csi_volume_id_parse(const char *id, char *repo, char *branch, enum csi_on_delete *p);
int csi_snapshot_id_format(const char *repo, const struct oid *commit, char *out, size_t outsz);
int csi_snapshot_id_parse(const char *id, char *repo, struct oid *commit);

#endif
