//! Thread scheduling of the control side.

/// Lower the calling thread's scheduling priority (SCHED_BATCH at the lowest niceness): the
/// control side (admin API, reloads, compiles) then yields to the workers on a shared core
/// instead of delaying requests, yet is never starved. Best effort.
pub fn lower_priority_of_current_thread() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let _ = set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    );
}
