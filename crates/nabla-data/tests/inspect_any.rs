//! `inspect` describes any readable HDF5 file: unknown layouts as a tree with the reason,
//! file names read as far as they go (tokens not parsed listed, never an error); files that
//! are missing or not HDF5 are one-line errors. HDF5 error stacks become one clean line.

use std::path::Path;

use hdf5::types::{FixedAscii, VarLenUnicode};
use hdf5::File;
use nabla_data::hdf5_message_line;
use nabla_data::inverse::{
    inspect, scan_file_name, write_per_seed, write_tensor_series, Inspection, PdeFamily,
    PerSeedData, TensorSeries,
};

fn report(path: &Path) -> String {
    match inspect(path) {
        Ok(r) => r.to_string(),
        Err(e) => panic!("inspect failed: {e}"),
    }
}

fn one_line_naming(e: &str, path: &Path) {
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

fn str_attr(loc: &hdf5::Location, name: &str, value: &str) {
    let v: VarLenUnicode = value.parse().unwrap();
    loc.new_attr::<VarLenUnicode>()
        .shape(())
        .create(name)
        .unwrap()
        .write_scalar(&v)
        .unwrap();
}

fn kdv_series() -> TensorSeries {
    TensorSeries {
        n: 2,
        nt: 3,
        nx: 4,
        tensor: (0..24).map(|v| v as f32).collect(),
        x: vec![0.0, 1.0, 2.0, 3.0],
        t: vec![0.0, 0.5, 1.0],
    }
}

#[test]
fn unknown_layout_is_listed_as_a_tree_with_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("experiment.h5");
    let f = File::create(&path).unwrap();
    str_attr(&f, "title", "wind tunnel run");
    f.new_attr::<f64>()
        .shape([3])
        .create("origin")
        .unwrap()
        .write_raw(&[0.0, 0.5, 1.0])
        .unwrap();
    f.new_attr::<FixedAscii<16>>()
        .shape(())
        .create("code")
        .unwrap()
        .write_scalar(&FixedAscii::<16>::from_ascii("A7").unwrap())
        .unwrap();
    let g = f.create_group("run").unwrap();
    g.new_attr::<i64>()
        .shape(())
        .create("id")
        .unwrap()
        .write_scalar(&7)
        .unwrap();
    let sub = g.create_group("probes").unwrap();
    let ds = sub
        .new_dataset::<f64>()
        .shape([2, 3])
        .create("pressure")
        .unwrap();
    ds.write_raw(&[0.0f64; 6]).unwrap();
    str_attr(&ds, "units", "Pa");
    sub.new_dataset::<u8>()
        .shape([5])
        .create("flags")
        .unwrap()
        .write_raw(&[0u8; 5])
        .unwrap();
    f.new_dataset::<i32>()
        .shape(())
        .create("count")
        .unwrap()
        .write_scalar(&3)
        .unwrap();
    f.close().unwrap();
    let text = report(&path);
    for want in [
        "layout      unknown (not PDEBench per-seed groups, a tensor [N, t, x] file, PDEBench Darcy or a PDEInvBench Darcy sample)",
        "  count  [] i32",
        "  run/\n    @id = 7\n",
        "  run/probes/\n",
        "  run/probes/flags  [5] u8",
        "  run/probes/pressure  [2, 3] f64\n    @units = \"Pa\"",
        "attributes\n  code = \"A7\"\n  title = \"wind tunnel run\"\n  origin  [3] f64 = [0, 0.5, 1]",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("parameters"), "{text}");
    assert!(!text.contains("not parsed"), "{text}");
}

#[test]
fn pdebench_style_kdv_name_with_extra_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1D_KdV_delta=2.5_train_100.h5");
    write_tensor_series(&path, &kdv_series(), &[("delta", 2.5.into())]).unwrap();
    let text = report(&path);
    for want in [
        "layout      tensor [N, t, x] = [2, 3, 4] f32 with x-coordinate, t-coordinate",
        "parameters  delta = 2.5 (1-D Korteweg-de Vries, from the file name; attributes agree)",
        "not parsed  train, 100 (file name tokens)",
        "  tensor  [2, 3, 4] f32",
        "attributes\n  delta = 2.5",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("warning"), "{text}");

    // The same name with an attribute that contradicts it: described, with a warning.
    let dir2 = tempfile::tempdir().unwrap();
    let lie = dir2.path().join("1D_KdV_delta=2.5_train_100.h5");
    write_tensor_series(&lie, &kdv_series(), &[("delta", 3.0.into())]).unwrap();
    let text = report(&lie);
    assert!(
        text.contains("warning     file attribute 'delta' is 3 but the file name says delta=2.5"),
        "{text}"
    );
    assert!(!text.contains("attributes agree"), "{text}");

    // Bad values and unknown names in a name are listed, not errors.
    let odd = dir2.path().join("1D_KdV_delta=abc_nu=0.1_x=inf.h5");
    write_tensor_series(&odd, &kdv_series(), &[]).unwrap();
    let text = report(&odd);
    assert!(
        text.contains("parameters  nu = 0.1 (1-D Korteweg-de Vries, from the file name)"),
        "{text}"
    );
    assert!(
        text.contains("not parsed  delta=abc (not a number), x=inf (not finite)"),
        "{text}"
    );
    assert!(
        text.contains("warning     file name parameter 'nu' is not one 1-D Korteweg-de Vries files take (delta, ic)"),
        "{text}"
    );
    assert!(
        text.contains("warning     the file name lacks parameter 'delta'"),
        "{text}"
    );
}

#[test]
fn file_names_are_scanned_never_refused() {
    let s = scan_file_name(Path::new("1D_KdV_delta=2.5_train_100.h5"));
    assert_eq!(s.prefix, "1D_KdV");
    assert_eq!(s.family, Some(PdeFamily::Kdv1d));
    assert_eq!(s.values, vec![("delta".to_string(), 2.5)]);
    assert_eq!(s.not_parsed, vec!["train", "100"]);
    assert!(s.notes().is_empty());
    let s = scan_file_name(Path::new("d/1D_CFD_Rand_M0.1_Eta0.01_periodic_Train.hdf5"));
    assert_eq!(s.prefix, "1D_CFD_Rand");
    assert_eq!(s.family, None);
    assert_eq!(
        s.values,
        vec![("M".to_string(), 0.1), ("Eta".to_string(), 0.01)]
    );
    assert_eq!(s.not_parsed, vec!["periodic", "Train"]);
    let s = scan_file_name(Path::new("1D_Burgers_Sols_Nu0.001.hdf5"));
    assert_eq!(s.values, vec![("Nu".to_string(), 0.001)]);
    assert!(s.not_parsed.is_empty());
    let s = scan_file_name(Path::new("2D_diff-react_Du=0.1_Du=0.2_k=0.05.h5"));
    assert_eq!(s.family, Some(PdeFamily::ReactionDiffusion2d));
    assert_eq!(s.not_parsed, vec!["Du=0.2 ('Du' appears twice)"]);
    assert!(
        s.notes()[0].contains("lacks parameter 'Dv'"),
        "{:?}",
        s.notes()
    );
    let s = scan_file_name(Path::new("sample_0012.h5"));
    assert_eq!((s.family, s.values.len()), (Some(PdeFamily::Darcy2d), 0));
    for name in [
        "",
        "=",
        "_=_",
        "a=b=c.h5",
        "===.h5",
        "x.txt",
        "ünï_cödé=1.h5",
        ".h5",
    ] {
        let _ = scan_file_name(Path::new(name));
    }
}

#[test]
fn empty_file_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.h5");
    File::create(&path).unwrap().close().unwrap();
    let text = report(&path);
    assert!(
        text.contains("layout      unknown (the file holds no groups or datasets)"),
        "{text}"
    );
    assert!(
        text.contains("contents\n  (no groups or datasets)"),
        "{text}"
    );

    // A hard link back up the tree, soft links (one dangling), an external link to a file
    // that is not there: listed, not followed round and round.
    let path = dir.path().join("links.h5");
    let f = File::create(&path).unwrap();
    let a = f.create_group("a").unwrap();
    a.new_dataset::<f32>()
        .shape([2])
        .create("v")
        .unwrap()
        .write_raw(&[1f32, 2.0])
        .unwrap();
    f.link_hard("/", "a/root").unwrap();
    f.link_soft("/a", "up").unwrap();
    f.link_soft("/a/v", "v_link").unwrap();
    f.link_soft("/nowhere", "dangling").unwrap();
    f.link_external("missing.h5", "/x", "ext").unwrap();
    f.close().unwrap();
    let text = report(&path);
    for want in [
        "  a/\n",
        "  a/root/  (a group listed above, not followed)",
        "  a/v  [2] f32",
        "  dangling  (soft link to nothing)",
        "  ext  (external link, not followed)",
        "  up/  (soft link to a group, not followed)",
        "  v_link  [2] f32  (soft link)",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn per_seed_file_with_odd_name_is_described() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("2D_diff-react_Du=0.1_Dv=0.2_k=0.05_seed7.h5");
    let shape = vec![2, 3, 2];
    let data = PerSeedData {
        shape: shape.clone(),
        x: vec![0.0, 0.5, 1.0],
        y: None,
        t: vec![0.0, 0.1],
        trajectories: vec![vec![0.0; 12]; 3],
    };
    write_per_seed(&path, &data, &[("k", 0.05.into())]).unwrap();
    let text = report(&path);
    assert!(
        text.contains("PDEBench per-seed: 3 seed groups, data [t, x, c] = [2, 3, 2] f32"),
        "{text}"
    );
    assert!(
        text.contains("parameters  Du = 0.1, Dv = 0.2, k = 0.05, seed = 7 (2-D reaction-diffusion"),
        "{text}"
    );
    assert!(
        text.contains("... 2 more seed groups (0001 to 0002)"),
        "{text}"
    );
    assert!(
        text.contains("warning     file name parameter 'seed' is not one"),
        "{text}"
    );
}

#[test]
fn broken_known_layout_is_described_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1D_KdV_delta=2.5.h5");
    let f = File::create(&path).unwrap();
    f.new_dataset::<f32>()
        .shape([2, 3, 4])
        .create("tensor")
        .unwrap()
        .write_raw(&[0f32; 24])
        .unwrap();
    f.close().unwrap();
    let text = report(&path);
    assert!(
        text.contains("layout      unknown (not a valid tensor [N, t, x] file: no dataset 'x-coordinate' in the file (it contains: tensor))"),
        "{text}"
    );
    assert!(text.contains("  tensor  [2, 3, 4] f32"), "{text}");
    // No complaints about the name when the layout is unknown.
    assert!(!text.contains("warning"), "{text}");
}

#[test]
fn missing_and_non_hdf5_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("x.h5");
    std::fs::write(&text, "just some text\nover two lines\n").unwrap();
    let e = inspect(&text).unwrap_err().to_string();
    one_line_naming(&e, &text);
    assert!(
        e.ends_with("not an HDF5 file (no HDF5 signature found)"),
        "{e}"
    );
    let missing = dir.path().join("nope.h5");
    let e = inspect(&missing).unwrap_err().to_string();
    one_line_naming(&e, &missing);
    assert!(e.ends_with("file not found"), "{e}");
    // An HDF5 signature followed by junk: the library's reason, one line, no stack.
    let junk = dir.path().join("junk.h5");
    let mut bytes = b"\x89HDF\r\n\x1a\n".to_vec();
    bytes.extend([7u8; 200]);
    std::fs::write(&junk, bytes).unwrap();
    let e = inspect(&junk).unwrap_err().to_string();
    one_line_naming(&e, &junk);
    assert!(
        e.ends_with("cannot read HDF5 file: unable to open file: bad superblock version number"),
        "{e}"
    );
    // A truncated file.
    let good = dir.path().join("good.h5");
    write_tensor_series(&good, &kdv_series(), &[]).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.h5");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = inspect(&cut).unwrap_err().to_string();
    one_line_naming(&e, &cut);
    assert!(e.contains("unable to open file: truncated file ("), "{e}");
    assert!(!e.contains("H5F") && !e.contains("sblock"), "{e}");
}

#[test]
fn folder_inspection_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("kdv");
    let train = root.join("train");
    std::fs::create_dir_all(&train).unwrap();
    for d in [1.5, 2.0] {
        write_tensor_series(
            &train.join(format!("1D_KdV_delta={d}.h5")),
            &kdv_series(),
            &[("delta", d.into())],
        )
        .unwrap();
    }
    let r = inspect(&root).unwrap();
    assert!(matches!(r, Inspection::Folder(_)));
    let text = r.to_string();
    assert!(text.contains("delta in [1.5, 2]"), "{text}");
    assert!(text.contains("4 trajectories"), "{text}");
}

/// What hdf5-metno's `Display` gives for a write on a full disk (the time stamp of the
/// library's message ends in a line break), as seen on a full tmpfs.
const FULL_DISK_DISPLAY: &str = "H5Dwrite(): can't write data: file write failed: time = Sun Dec  6 08:25:53 2026\n, filename = '/tmp/full/.out.h5.tmp', file descriptor = 3, errno = 28, error message = 'No space left on device', buf = 0x7f4831d36810, total write size = 748800, bytes this sub-write = 748800, bytes actually written = 18446744073709551615, offset = 0";

/// The same error as the library prints its stack (`H5Eprint`), shortened.
const FULL_DISK_STACK: &str = "HDF5-DIAG: Error detected in HDF5 (1.10.8) thread 0:
  #000: ../../../src/H5F.c line 793 in H5Fclose(): decrementing file ID failed
    major: File accessibility
    minor: Unable to close file
  #001: ../../../src/H5Fint.c line 2166 in H5F_try_close(): problems closing file
    major: File accessibility
    minor: Unable to close file
  #002: ../../../src/H5FDint.c line 248 in H5FD_write(): driver write request failed
    major: Virtual File Layer
    minor: Write failed
  #003: ../../../src/H5FDsec2.c line 864 in H5FD_sec2_write(): file write failed: time = Sun Dec  6 08:25:53 2026
, filename = 'out.h5', file descriptor = 3, errno = 28, error message = 'No space left on device', buf = 0x55d0c8, total write size = 2048, bytes this sub-write = 2048, bytes actually written = 18446744073709551615, offset = 0
    major: Low-level I/O
    minor: Write failed
";

#[test]
fn hdf5_errors_become_one_clean_line() {
    assert_eq!(
        hdf5_message_line(FULL_DISK_DISPLAY),
        "file write failed: No space left on device"
    );
    assert_eq!(
        hdf5_message_line(FULL_DISK_STACK),
        "file write failed: No space left on device"
    );
    let stack = "HDF5-DIAG: Error detected in HDF5 (1.10.8) thread 0:
  #000: ../../../src/H5F.c line 509 in H5Fopen(): unable to open file
    major: File accessibility
    minor: Unable to open file
  #001: ../../../src/H5Fint.c line 1400 in H5F_open(): unable to read superblock
    major: File accessibility
    minor: Read failed
  #002: ../../../src/H5Fsuper.c line 425 in H5F__super_read(): file signature not found
    major: File accessibility
    minor: Not an HDF5 file
";
    assert_eq!(
        hdf5_message_line(stack),
        "unable to open file: file signature not found"
    );
    assert_eq!(
        hdf5_message_line(
            "H5Fopen(): unable to open file: truncated file: eof = 1000, sblock->base_addr = 0, stored_eof = 10048"
        ),
        "unable to open file: truncated file (1000 bytes, its header says 10048)"
    );
    assert_eq!(
        hdf5_message_line(
            "H5Fcreate(): unable to create file: unable to open file: name = '/ro/x.h5', errno = 13, error message = 'Permission denied', flags = 13, o_flags = 242"
        ),
        "unable to open file: Permission denied"
    );
    assert_eq!(
        hdf5_message_line("shape error: incompatible"),
        "shape error: incompatible"
    );
    for text in [
        "",
        "\n\n",
        "#000:",
        "error message = '",
        ": : :",
        "H5Fopen(): ",
    ] {
        let line = hdf5_message_line(text);
        assert!(
            !line.is_empty() && !line.contains('\n'),
            "{text:?} -> {line:?}"
        );
    }
}
