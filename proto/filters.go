package proto

// Filters and metadata keys used to look up registry entries and inbox
// objects. Added alongside RegistryVersionKey, RegistryAliasKey and
// BucketInbox; keep them in step with those builders.

// RegistryVersionsOf matches the version keys of one model in BucketRegistry:
// version.<model>.* (see RegistryVersionKey).
func RegistryVersionsOf(model string) string {
	return "version." + mustToken("model", model) + ".*"
}

// RegistryVersionsAll matches the version keys of every model in
// BucketRegistry.
const RegistryVersionsAll = "version.>"

// RegistryAliasesAll matches every alias key in BucketRegistry (see
// RegistryAliasKey).
const RegistryAliasesAll = "alias.*"

// InboxMetaConsumedBy is the metadata key the ingestor sets on an object in
// BucketInbox, to the request_id it ingested the object for, just before it
// deletes the object. The delete marker keeps the key, so a redelivered
// ImageSubmitted whose object is gone can be told apart from one whose object
// never existed.
const InboxMetaConsumedBy = "hap-consumed-by"
