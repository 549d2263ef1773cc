//! Reciprocal rank fusion: each list a chunk appears in adds `1 / (k + rank)`. Ranks, not raw
//! scores, are fused, since BM25 and cosine similarity have no common scale. The sum is divided
//! by its largest possible value (first in every list used), so a score is in [0, 1]: 1 is
//! first for both keywords and meaning, 0.5 first for one of them alone (in hybrid mode).

use super::Retrieval;

/// A fused candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    pub chunk_id: i64,
    pub score: f64,
    pub found_by: Retrieval,
}

/// Fuses the keyword and vector rankings (chunk ids, best first) into at most `top_k` chunks,
/// best first. `lists` is how many rankings the mode uses (2 for hybrid), which sets the scale.
pub fn fuse(keyword: &[i64], vector: &[i64], k: f64, lists: usize, top_k: usize) -> Vec<Fused> {
    struct Entry {
        chunk_id: i64,
        sum: f64,
        keyword: Option<usize>,
        vector: Option<usize>,
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut add = |id: i64, rank: usize, is_vector: bool| {
        let entry = match entries.iter_mut().position(|e| e.chunk_id == id) {
            Some(i) => &mut entries[i],
            None => {
                entries.push(Entry {
                    chunk_id: id,
                    sum: 0.0,
                    keyword: None,
                    vector: None,
                });
                entries.last_mut().expect("just pushed")
            }
        };
        let slot = if is_vector {
            &mut entry.vector
        } else {
            &mut entry.keyword
        };
        // A list names a chunk once; a repeat is ignored.
        if slot.is_none() {
            *slot = Some(rank);
            entry.sum += 1.0 / (k + rank as f64);
        }
    };
    for (i, id) in keyword.iter().enumerate() {
        add(*id, i + 1, false);
    }
    for (i, id) in vector.iter().enumerate() {
        add(*id, i + 1, true);
    }
    let best = lists.max(1) as f64 / (k + 1.0);
    let best_rank = |e: &Entry| e.keyword.min(e.vector).or(e.keyword).or(e.vector);
    entries.sort_by(|a, b| {
        b.sum
            .total_cmp(&a.sum)
            .then_with(|| best_rank(a).cmp(&best_rank(b)))
            // Between a keyword-only and a vector-only chunk of the same rank, meaning first.
            .then_with(|| b.vector.is_some().cmp(&a.vector.is_some()))
            .then_with(|| a.chunk_id.cmp(&b.chunk_id))
    });
    entries
        .into_iter()
        .take(top_k)
        .map(|e| Fused {
            chunk_id: e.chunk_id,
            score: (e.sum / best).clamp(0.0, 1.0),
            found_by: match (e.keyword, e.vector) {
                (Some(_), Some(_)) => Retrieval::Hybrid,
                (None, Some(_)) => Retrieval::Vector,
                _ => Retrieval::Keyword,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_in_both_lists_wins_and_scores_stay_in_unit_range() {
        let fused = fuse(&[1, 2, 3], &[3, 4], 60.0, 2, 10);
        assert_eq!(fused[0].chunk_id, 3, "in both lists beats first in one");
        assert_eq!(fused[0].found_by, Retrieval::Hybrid);
        assert!(fused.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(fused.iter().all(|f| (0.0..=1.0).contains(&f.score)));
        let ids: Vec<i64> = fused.iter().map(|f| f.chunk_id).collect();
        assert_eq!(ids.len(), 4, "deduplicated by chunk");
        assert_eq!(
            fused.iter().find(|f| f.chunk_id == 4).unwrap().found_by,
            Retrieval::Vector
        );
    }

    #[test]
    fn first_in_every_list_scores_one_and_first_in_one_of_two_scores_half() {
        let fused = fuse(&[7], &[7], 60.0, 2, 5);
        assert!((fused[0].score - 1.0).abs() < 1e-12);
        let fused = fuse(&[7], &[8], 60.0, 2, 5);
        assert!((fused[0].score - 0.5).abs() < 1e-12);
        assert_eq!(fused[0].chunk_id, 8, "a tie goes to meaning");
        let alone = fuse(&[7, 9], &[], 60.0, 1, 5);
        assert!(
            (alone[0].score - 1.0).abs() < 1e-12,
            "keyword-only mode scales to one list"
        );
    }

    #[test]
    fn top_k_is_kept_and_repeats_within_a_list_count_once() {
        let fused = fuse(&[1, 1, 2, 3, 4], &[], 60.0, 1, 2);
        assert_eq!(fused.len(), 2);
        assert!((fused[0].score - 1.0).abs() < 1e-12);
    }
}
