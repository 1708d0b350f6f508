//! Embedding lookup: a gather of table rows forward, a scatter-add into a zero table backward.

use crate::error::{ensure_len, KResult, KernelError};

fn check_ids(ids: &[i64], vocab: usize) -> KResult<()> {
    if let Some((i, &id)) = ids.iter().enumerate().find(|(_, &id)| id < 0 || id as u64 >= vocab as u64) {
        return Err(KernelError::Value(format!(
            "embedding: id {id} at flat position {i} is out of range for a vocabulary of {vocab} (ids must be in [0, {vocab}))"
        )));
    }
    Ok(())
}

/// ids[K] in [0,V), table[V,E] -> y[K,E]
pub fn embedding_forward(ids: &[i64], table: &[f32], vocab: usize, e: usize, y: &mut [f32]) -> KResult<()> {
    ensure_len("embedding table", table.len(), vocab * e)?;
    ensure_len("embedding y", y.len(), ids.len() * e)?;
    check_ids(ids, vocab)?;
    if e == 0 {
        return Ok(());
    }
    for (row, &id) in y.chunks_exact_mut(e).zip(ids) {
        let id = id as usize;
        row.copy_from_slice(&table[id * e..(id + 1) * e]);
    }
    Ok(())
}

/// ids[K], dy[K,E] -> dtable[V,E] (zeroed here, then dtable[id] += dy[k])
pub fn embedding_backward(ids: &[i64], dy: &[f32], vocab: usize, e: usize, dtable: &mut [f32]) -> KResult<()> {
    ensure_len("embedding dy", dy.len(), ids.len() * e)?;
    ensure_len("embedding dtable", dtable.len(), vocab * e)?;
    check_ids(ids, vocab)?;
    dtable.fill(0.0);
    if e == 0 {
        return Ok(());
    }
    for (g, &id) in dy.chunks_exact(e).zip(ids) {
        let id = id as usize;
        for (o, &v) in dtable[id * e..(id + 1) * e].iter_mut().zip(g) {
            *o += v;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_ids_accumulate() {
        let mut dt = vec![0.0f32; 6];
        embedding_backward(&[2, 0, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2, &mut dt).unwrap();
        assert_eq!(dt, vec![3.0, 4.0, 0.0, 0.0, 6.0, 8.0]);
        let mut y = vec![0.0f32; 2];
        assert!(embedding_forward(&[3], &dt, 3, 2, &mut y).unwrap_err().to_string().contains("id 3"));
        assert!(embedding_forward(&[-1], &dt, 3, 2, &mut y).is_err());
    }
}
