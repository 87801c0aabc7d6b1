// The store's figures the faces report, written once: each ObjectStats field with its
// name in memcached's `stats` (bale_*) and in /metrics (bale_*, with its type and help).
// stats_command.cc and http_metrics.cc both walk kStoreFigures.
#pragma once

#include <cstdint>
#include <string_view>

#include "frontend/object_store.h"

namespace bale {

struct StoreFigure {
  std::string_view stat;    // `stats` name; empty: not in `stats`
  std::string_view metric;  // /metrics name; empty: not in /metrics
  bool counter;             // /metrics type: counter, else gauge
  std::string_view help;
  // The value; null for the one string figure, the durability mode's name (`stats` only).
  uint64_t (*value)(const ObjectStats&);
};

#define BALE_FIGURE(field) [](const ObjectStats& s) -> uint64_t { return s.field; }
// clang-format off
inline constexpr StoreFigure kStoreFigures[] = {
  {"bale_partitions", "partitions", false, "Partitions on this node.", BALE_FIGURE(partitions)},
  {"", "objects", false, "Index entries (live objects, plus expired ones not yet compacted).",
   BALE_FIGURE(objects)},
  // memcached's curr_items, bytes, get_expired and get_flushed (`stats` names them so).
  {"", "live_objects", false,
   "Objects stored now (expired ones until a read or compaction finds them).",
   BALE_FIGURE(live_objects)},
  {"", "live_bytes", false, "Bytes on disk of the objects stored now (not known dead).",
   BALE_FIGURE(live_bytes)},
  {"", "expired_reads_total", true, "Reads that found the object expired.",
   BALE_FIGURE(expired_reads)},
  {"", "flushed_reads_total", true, "Reads that found the object hidden by flush_all.",
   BALE_FIGURE(flushed_reads)},
  {"bale_segments", "segments", false, "Segment files.", BALE_FIGURE(segments)},
  {"bale_index_bytes", "index_bytes", false, "Memory the needle indexes map.",
   BALE_FIGURE(index_bytes)},
  {"bale_disk_bytes", "disk_bytes", false, "Bytes of segment files.", BALE_FIGURE(disk_bytes)},
  {"bale_durability", "", false, "", nullptr},
  {"bale_unsynced_bytes", "durability_lag_bytes", false,
   "Bytes appended but not yet fdatasynced.", BALE_FIGURE(unsynced_bytes)},
  {"bale_compactions", "compactions_total", true, "Segment compactions finished.",
   BALE_FIGURE(compactions)},
  {"bale_compaction_running", "compaction_running", false, "1 while a compaction runs.",
   BALE_FIGURE(compaction_running)},
  {"bale_compaction_failures", "compaction_failures_total", true,
   "Compactions that failed (retried later).", BALE_FIGURE(compaction_failures)},
  {"bale_compaction_reclaimed_bytes", "compaction_reclaimed_bytes_total", true,
   "Bytes of segment files compaction freed.", BALE_FIGURE(compaction_reclaimed)},
  {"bale_dead_bytes", "dead_bytes", false,
   "Bytes of dead needles known, what compaction can reclaim.", BALE_FIGURE(dead_bytes)},
  {"bale_disk_full", "disk_full", false,
   "1 while writes that add data are refused for a full disk.", BALE_FIGURE(disk_full)},
  {"bale_disk_reserve_bytes", "", false, "", BALE_FIGURE(disk_reserve_bytes)},
  {"bale_checkpoint_failures", "checkpoint_failures_total", true,
   "Index checkpoints not written (a full disk).", BALE_FIGURE(checkpoint_failures)},
  {"bale_recovery_scanned_bytes", "", false, "", BALE_FIGURE(recovery_scanned_bytes)},
  {"bale_tail_checkpoints", "", false, "", BALE_FIGURE(tail_checkpoints)},
  {"bale_compactions_by_writers", "", false, "", BALE_FIGURE(inline_compactions)},
  {"bale_compaction_scanned_bytes", "compaction_scanned_bytes", false,
   "Bytes scanned by the running or last compaction.", BALE_FIGURE(compaction_scanned)},
  {"bale_compaction_total_bytes", "compaction_total_bytes", false,
   "Bytes the running or last compaction has to scan.", BALE_FIGURE(compaction_total)},
  // Damage found when the store opened (docs/store.md, "What damage does").
  {"bale_corrupt_records", "corrupt_records", false,
   "Damaged records found when the store opened (skipped, kept on disk).",
   BALE_FIGURE(corrupt_records)},
  {"bale_truncated_bytes", "truncated_bytes", false,
   "Bytes of torn tails cut off when the store opened.", BALE_FIGURE(truncated_bytes)},
  {"bale_damaged_segments", "damaged_segments", false,
   "Segments whose superblock fails its checks.", BALE_FIGURE(damaged_segments)},
  {"bale_unreadable_segments", "unreadable_segments", false,
   "Damaged segments whose records cannot be checked.", BALE_FIGURE(unreadable_segments)},
  {"bale_missing_segments", "missing_segments", false,
   "Segment sequence numbers without a file.", BALE_FIGURE(missing_segments)},
  {"bale_damaged_partitions", "damaged_partitions", false,
   "Partitions with damage (see /status).", BALE_FIGURE(damaged_partitions)},
  {"bale_unavailable_partitions", "unavailable_partitions", false,
   "Partitions whose keys answer 503 / SERVER_ERROR.", BALE_FIGURE(unavailable_partitions)},
  {"bale_flush_all_damaged", "flush_all_damaged", false,
   "1 while the FLUSH_ALL marker has damage found at open (see /status).",
   BALE_FIGURE(flush_all_damaged)},
  {"bale_journal_flushes", "journal_flushes_total", true,
   "Journal flushes (--durability sync: one write and one fdatasync per round).",
   BALE_FIGURE(journal_flushes)},
  {"bale_journal_bytes", "journal_bytes_total", true, "Bytes appended to the journal.",
   BALE_FIGURE(journal_bytes)},
  {"bale_journal_rotations", "journal_rotations_total", true,
   "Journal files started after the first (each syncs every segment).",
   BALE_FIGURE(journal_rotations)},
  {"bale_journal_failures", "journal_failures_total", true,
   "Journal flushes or segment syncs that failed.", BALE_FIGURE(journal_failures)},
  {"bale_journal_replayed", "journal_replayed_records", false,
   "Journal records replayed into their segments when the store opened.",
   BALE_FIGURE(journal_replayed)},
};
// clang-format on
#undef BALE_FIGURE

}  // namespace bale
