//! The open-file limit: every socket is a descriptor, so a run raises
//! RLIMIT_NOFILE as far as it may before it starts.

/// Raises the soft limit to `want` (and the hard limit too when the
/// process may, e.g. as root, up to /proc/sys/fs/nr_open). Returns the
/// soft limit in force afterwards.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur >= want {
        return lim.rlim_cur;
    }
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(lim.rlim_max);
    if lim.rlim_max < want {
        let both = want.min(nr_open).max(lim.rlim_max);
        let raised = libc::rlimit { rlim_cur: both, rlim_max: both };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return both;
        }
    }
    let soft = libc::rlimit { rlim_cur: want.min(lim.rlim_max), rlim_max: lim.rlim_max };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) } == 0 { soft.rlim_cur } else { lim.rlim_cur }
}

#[cfg(test)]
mod tests {
    #[test]
    fn raising_never_lowers() {
        let now = super::raise_nofile(0);
        assert!(super::raise_nofile(64) >= now.min(64));
    }
}
