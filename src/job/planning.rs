/*!
The whole plan at once, for programs that want a [`Plan`] rather than a stream: `(url, path)`
pairs, or specs under an output directory named as [`Naming`] says. Thin wrappers over the
streaming [`Planner`], which does the work.
*/

use std::path::Path;

use crate::error::Error;
use crate::job::{Plan, Spec};
use crate::plan::Planner;

/// Turn `(url, path)` pairs into a plan: each path used as given (see
/// [`Job::new`](super::Job::new)), bad URLs and second entries for one file rejected, as
/// [`plan`] does for an input list.
pub fn plan_pairs<U, P>(pairs: impl IntoIterator<Item = (U, P)>) -> Plan
where
    U: AsRef<str>,
    P: AsRef<Path>,
{
    let mut planner = Planner::new(".");
    pairs
        .into_iter()
        .filter_map(|(url, path)| planner.pair(url.as_ref(), path.as_ref()))
        .collect()
}

/// How [`plan_with`] names files a spec gives no PATH for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Naming {
    /// The URL's host and directories become folders under the output directory (as
    /// `wget -x`), so same-named files of different folders do not collide.
    pub keep_paths: bool,
    /// Take the server's name from `Content-Disposition` when it gives one (see
    /// [`Job::server_name`](super::Job::server_name)).
    pub content_disposition: bool,
}

/// Turn specs into jobs under `dir`: resolve names and paths, and reject entries whose URL
/// is bad, whose path leaves `dir`, or whose file (or one of its temporaries) is already
/// another job's file or temporary, however the two paths are spelled. The whole plan at
/// once; [`Planner::stream`] gives it entry by entry, as the list is read.
pub fn plan(specs: impl IntoIterator<Item = Result<Spec, Error>>, dir: &Path) -> Plan {
    plan_with(specs, dir, Naming::default())
}

/// [`plan`], naming files without a PATH as `naming` says.
pub fn plan_with(
    specs: impl IntoIterator<Item = Result<Spec, Error>>,
    dir: &Path,
    naming: Naming,
) -> Plan {
    Planner::new(dir)
        .with_naming(naming)
        .stream(specs)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn plan_rejects_duplicates_bad_urls_and_part_collisions() {
        let specs = vec![
            Ok(Spec::url("http://h/a")),
            Ok(Spec::url("http://other/a")),
            Ok(Spec::url("ftp://h/b")),
            Ok(Spec {
                path: Some("a.part".into()),
                ..Spec::url("http://h/c")
            }),
            Ok(Spec::url("http://h/d")),
        ];
        let plan = plan(specs, Path::new("/out"));
        let names: Vec<_> = plan.jobs.iter().map(|j| j.path.clone()).collect();
        assert_eq!(names, [PathBuf::from("/out/a"), PathBuf::from("/out/d")]);
        assert_eq!(plan.rejected.len(), 3);
        assert!(matches!(
            plan.rejected[0].error,
            Error::DuplicateTarget { .. }
        ));
        assert!(matches!(plan.rejected[1].error, Error::InvalidUrl { .. }));
    }
}
